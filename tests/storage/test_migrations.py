from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from engine.storage.postgres.migrations import MIGRATIONS_DIR, apply_migrations, discover
from tests.support.database import create_database, drop_database


async def test_migrations_apply_once_and_rerun_is_noop(pg_admin_dsn: str) -> None:
    dsn = await create_database(pg_admin_dsn, prefix="rugpt_migr")
    try:
        conn = await asyncpg.connect(dsn)
        try:
            first = await apply_migrations(conn)
            assert first == [m.version for m in discover()]
            assert await apply_migrations(conn) == []
            tables = {
                r["tablename"]
                for r in await conn.fetch(
                    "SELECT tablename FROM pg_tables WHERE schemaname='public'"
                )
            }
            expected = {
                "organizations",
                "users",
                "roles",
                "chats",
                "chat_members",
                "messages",
                "calendar_events",
                "notification_channels",
                "notification_log",
            }
            assert expected <= tables
            tenant_tables = expected - {"organizations"}
            for table in tenant_tables:
                columns = {
                    r["column_name"]
                    for r in await conn.fetch(
                        "SELECT column_name FROM information_schema.columns WHERE table_name=$1",
                        table,
                    )
                }
                assert "org_id" in columns, table
        finally:
            await conn.close()
    finally:
        await drop_database(pg_admin_dsn, dsn)


async def test_failed_migration_rolls_back(pg_admin_dsn: str, tmp_path: Path) -> None:
    (tmp_path / "001_ok.sql").write_text("CREATE TABLE good (id int);")
    (tmp_path / "002_broken.sql").write_text("CREATE TABLE half (id int); SELECT nonsense_fn();")
    dsn = await create_database(pg_admin_dsn, prefix="rugpt_migr")
    try:
        conn = await asyncpg.connect(dsn)
        try:
            with pytest.raises(asyncpg.PostgresError):
                await apply_migrations(conn, tmp_path)
            assert await conn.fetchval("SELECT to_regclass('half')") is None
            assert await conn.fetchval("SELECT to_regclass('good')") == "good"
            assert await conn.fetchval("SELECT max(version) FROM schema_migrations") == 1
        finally:
            await conn.close()
    finally:
        await drop_database(pg_admin_dsn, dsn)


def test_migration_names_are_checked(tmp_path: Path) -> None:
    (tmp_path / "oops.sql").write_text("")
    with pytest.raises(ValueError):
        discover(tmp_path)
    assert all(m.path.parent == MIGRATIONS_DIR for m in discover())
