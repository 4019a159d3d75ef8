"""Calendar events and the record of their firings."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from engine.models.calendar import CalendarEvent, EventRun, RunStatus
from engine.storage.postgres.database import Database, Executor

_COLUMNS = (
    "id, org_id, owner_id, title, description, starts_at, ends_at, kind, cron, timezone, "
    "until_at, max_occurrences, remind_before_minutes, role_code, prompt, participants, "
    "missed_policy, is_active, series_end_at, next_occurrence_at, next_run_at, "
    "created_at, updated_at"
)
WRITABLE = frozenset(
    {
        "title",
        "description",
        "starts_at",
        "ends_at",
        "kind",
        "cron",
        "timezone",
        "until_at",
        "max_occurrences",
        "remind_before_minutes",
        "role_code",
        "prompt",
        "participants",
        "missed_policy",
        "is_active",
        "series_end_at",
        "next_occurrence_at",
        "next_run_at",
    }
)
_RUN_COLUMNS = (
    "id, org_id, event_id, occurrence_at, status, attempt, agent_status, agent_result, "
    "agent_error, error, notified, created_at, finished_at"
)


def _checked(values: dict[str, Any]) -> dict[str, Any]:
    unknown = set(values) - WRITABLE
    if unknown:
        raise ValueError(f"not writable: {sorted(unknown)}")
    return values


class CalendarStorage:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(
        self, org_id: UUID, owner_id: UUID, values: dict[str, Any], *, conn: Executor | None = None
    ) -> CalendarEvent:
        names = list(_checked(values))
        placeholders = ", ".join(f"${i}" for i in range(3, len(names) + 3))
        row = await (conn or self.db.tenant(org_id)).fetchrow(
            f"INSERT INTO calendar_events (org_id, owner_id, {', '.join(names)}) "
            f"VALUES ($1, $2, {placeholders}) RETURNING {_COLUMNS}",
            org_id,
            owner_id,
            *values.values(),
        )
        return CalendarEvent.from_row(row)

    async def get(
        self,
        org_id: UUID,
        event_id: UUID,
        *,
        for_update: bool = False,
        conn: Executor | None = None,
    ) -> CalendarEvent | None:
        lock = " FOR UPDATE" if for_update else ""
        row = await (conn or self.db.tenant(org_id)).fetchrow(
            f"SELECT {_COLUMNS} FROM calendar_events "
            f"WHERE org_id = $1 AND id = $2 AND NOT is_deleted{lock}",
            org_id,
            event_id,
        )
        return CalendarEvent.from_row(row) if row else None

    async def update(
        self,
        org_id: UUID,
        event_id: UUID,
        values: dict[str, Any],
        *,
        conn: Executor | None = None,
    ) -> CalendarEvent | None:
        names = list(_checked(values))
        if not names:
            return await self.get(org_id, event_id, conn=conn)
        assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(names, start=3))
        row = await (conn or self.db.tenant(org_id)).fetchrow(
            f"UPDATE calendar_events SET {assignments}, updated_at = now() "
            f"WHERE org_id = $1 AND id = $2 AND NOT is_deleted RETURNING {_COLUMNS}",
            org_id,
            event_id,
            *values.values(),
        )
        return CalendarEvent.from_row(row) if row else None

    async def soft_delete(
        self, org_id: UUID, event_id: UUID, *, conn: Executor | None = None
    ) -> bool:
        status = await (conn or self.db.tenant(org_id)).execute(
            "UPDATE calendar_events SET is_deleted = true, next_run_at = NULL, updated_at = now() "
            "WHERE org_id = $1 AND id = $2 AND NOT is_deleted",
            org_id,
            event_id,
        )
        return status.endswith(" 1")

    async def list_for_user(
        self, org_id: UUID, user_id: UUID, *, limit: int, offset: int
    ) -> list[CalendarEvent]:
        """Events the user owns or takes part in."""
        rows = await self.db.tenant(org_id).fetch(
            f"""SELECT {_COLUMNS} FROM calendar_events
                WHERE org_id = $1 AND NOT is_deleted AND (owner_id = $2 OR $2 = ANY(participants))
                ORDER BY starts_at, id LIMIT $3 OFFSET $4""",
            org_id,
            user_id,
            limit,
            offset,
        )
        return [CalendarEvent.from_row(r) for r in rows]

    async def overlapping(
        self, org_id: UUID, user_id: UUID, start: datetime, end: datetime, *, limit: int
    ) -> list[CalendarEvent]:
        """Active events of the user that may have an occurrence overlapping [start, end)."""
        rows = await self.db.tenant(org_id).fetch(
            f"""SELECT {_COLUMNS} FROM calendar_events
                WHERE org_id = $1 AND NOT is_deleted AND is_active
                  AND (owner_id = $2 OR $2 = ANY(participants))
                  AND starts_at < $4
                  AND (series_end_at IS NULL
                       OR series_end_at + coalesce(ends_at - starts_at, interval '0') >= $3)
                ORDER BY starts_at, id LIMIT $5""",
            org_id,
            user_id,
            start,
            end,
            limit,
        )
        return [CalendarEvent.from_row(r) for r in rows]

    async def lock_due(self, now: datetime, *, limit: int, conn: Executor) -> list[CalendarEvent]:
        """Due events of every organization, row-locked; rows another process holds are skipped.

        The scheduler is the one caller that works across organizations: what it does next
        with each event is scoped by that event's org_id.
        """
        rows = await conn.fetch(
            f"""SELECT {_COLUMNS} FROM calendar_events
                WHERE is_active AND NOT is_deleted AND next_run_at <= $1
                ORDER BY next_run_at LIMIT $2
                FOR UPDATE SKIP LOCKED""",
            now,
            limit,
        )
        return [CalendarEvent.from_row(r) for r in rows]

    async def set_next(
        self,
        org_id: UUID,
        event_id: UUID,
        *,
        next_occurrence_at: datetime | None,
        next_run_at: datetime | None,
        conn: Executor,
    ) -> None:
        await conn.execute(
            "UPDATE calendar_events SET next_occurrence_at = $3, "
            "next_run_at = CASE WHEN is_active THEN $4::timestamptz END "
            "WHERE org_id = $1 AND id = $2",
            org_id,
            event_id,
            next_occurrence_at,
            next_run_at,
        )


class CalendarRunStorage:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def insert_running(
        self,
        org_id: UUID,
        event_id: UUID,
        occurrence_at: datetime,
        *,
        claimed_by: str,
        lease_until: datetime,
        conn: Executor,
    ) -> EventRun | None:
        """Record a firing; None when this occurrence was already fired (or skipped)."""
        row = await conn.fetchrow(
            f"""INSERT INTO calendar_event_runs
                    (org_id, event_id, occurrence_at, status, claimed_by, lease_until)
                VALUES ($1, $2, $3, 'running', $4, $5)
                ON CONFLICT (event_id, occurrence_at) DO NOTHING
                RETURNING {_RUN_COLUMNS}""",
            org_id,
            event_id,
            occurrence_at,
            claimed_by,
            lease_until,
        )
        return EventRun.from_row(row) if row else None

    async def insert_skipped(
        self, org_id: UUID, event_id: UUID, occurrence_at: datetime, reason: str, *, conn: Executor
    ) -> None:
        await conn.execute(
            """INSERT INTO calendar_event_runs
                   (org_id, event_id, occurrence_at, status, error, finished_at)
               VALUES ($1, $2, $3, 'skipped', $4, now())
               ON CONFLICT (event_id, occurrence_at) DO NOTHING""",
            org_id,
            event_id,
            occurrence_at,
            reason,
        )

    async def reclaim_stale(
        self, now: datetime, *, lease_until: datetime, claimed_by: str, limit: int
    ) -> list[EventRun]:
        """Take over firings whose process died (lease expired); the attempt number fences."""
        rows = await self.db.system("scheduler").fetch(
            f"""UPDATE calendar_event_runs SET attempt = attempt + 1, claimed_by = $3,
                       lease_until = $2
                WHERE id IN (SELECT id FROM calendar_event_runs
                             WHERE status = 'running' AND lease_until < $1
                             ORDER BY lease_until LIMIT $4 FOR UPDATE SKIP LOCKED)
                RETURNING {_RUN_COLUMNS}""",
            now,
            lease_until,
            claimed_by,
            limit,
        )
        return [EventRun.from_row(r) for r in rows]

    async def renew(
        self, claims: Sequence[tuple[UUID, int]], *, lease_until: datetime
    ) -> set[UUID]:
        """Extend the leases of firings still carried out; return the ids still held.

        A claim is (id, attempt): a firing taken over by another process after a lapsed
        lease has a higher attempt number and is left alone.
        """
        if not claims:
            return set()
        rows = await self.db.system("scheduler").fetch(
            """UPDATE calendar_event_runs r SET lease_until = $3
               FROM unnest($1::uuid[], $2::int[]) AS c(id, attempt)
               WHERE r.id = c.id AND r.attempt = c.attempt AND r.status = 'running'
               RETURNING r.id""",
            [run_id for run_id, _ in claims],
            [attempt for _, attempt in claims],
            lease_until,
        )
        return {r["id"] for r in rows}

    async def save_agent_outcome(
        self,
        org_id: UUID,
        run_id: UUID,
        attempt: int,
        *,
        ok: bool,
        result: str | None,
        error: str | None,
    ) -> bool:
        status = await self.db.tenant(org_id).execute(
            """UPDATE calendar_event_runs SET agent_status = $4, agent_result = $5, agent_error = $6
               WHERE org_id = $1 AND id = $2 AND attempt = $3 AND status = 'running'""",
            org_id,
            run_id,
            attempt,
            "ok" if ok else "failed",
            result,
            error,
        )
        return status.endswith(" 1")

    async def finish(
        self,
        org_id: UUID,
        run_id: UUID,
        attempt: int,
        *,
        status: RunStatus,
        notified: int = 0,
        error: str | None = None,
        conn: Executor | None = None,
    ) -> bool:
        """Close a firing this process still holds; False when someone else took it over."""
        result = await (conn or self.db.tenant(org_id)).execute(
            """UPDATE calendar_event_runs
               SET status = $4, notified = $5, error = $6, finished_at = now(), lease_until = NULL
               WHERE org_id = $1 AND id = $2 AND attempt = $3 AND status = 'running'""",
            org_id,
            run_id,
            attempt,
            status.value,
            notified,
            error,
        )
        return result.endswith(" 1")

    async def get(self, org_id: UUID, run_id: UUID) -> EventRun | None:
        row = await self.db.tenant(org_id).fetchrow(
            f"SELECT {_RUN_COLUMNS} FROM calendar_event_runs WHERE org_id = $1 AND id = $2",
            org_id,
            run_id,
        )
        return EventRun.from_row(row) if row else None

    async def list_for_event(
        self, org_id: UUID, event_id: UUID, *, limit: int, offset: int
    ) -> list[EventRun]:
        rows = await self.db.tenant(org_id).fetch(
            f"""SELECT {_RUN_COLUMNS} FROM calendar_event_runs
                WHERE org_id = $1 AND event_id = $2
                ORDER BY occurrence_at DESC LIMIT $3 OFFSET $4""",
            org_id,
            event_id,
            limit,
            offset,
        )
        return [EventRun.from_row(r) for r in rows]
