"""Time as PostgreSQL sees it: every engine process judges due-ness by the same clock."""

from __future__ import annotations

from datetime import datetime, timedelta

from engine.storage.postgres.database import Database, Executor


class DatabaseClock:
    """`now()` of the database, plus an offset that tests use to stand in for waiting."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.offset = timedelta(0)

    async def now(self, conn: Executor | None = None) -> datetime:
        value: datetime = await (conn or self.db.tableless()).fetchval("SELECT clock_timestamp()")
        return value + self.offset

    def shift(self, delta: timedelta) -> None:
        self.offset += delta
