"""Numbered `.sql` migrations applied in order, each in its own transaction, recorded once."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from engine.config import PACKAGE_DIR
from engine.storage.postgres.tenancy import APP_ROLE, ensure_tenancy

log = logging.getLogger(__name__)

MIGRATIONS_DIR = PACKAGE_DIR / "migrations"
_NAME = re.compile(r"^(\d+)_([\w-]+)\.sql$")
_LOCK_KEY = 0x52754750  # advisory lock: one migrator at a time across processes


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found: dict[int, Migration] = {}
    for path in directory.glob("*.sql"):
        match = _NAME.match(path.name)
        if not match:
            raise ValueError(f"migration file name must look like 001_name.sql: {path.name}")
        version = int(match.group(1))
        if version in found:
            raise ValueError(f"two migrations share number {version}: {path.name}")
        found[version] = Migration(version, match.group(2), path)
    return [found[v] for v in sorted(found)]


async def apply_migrations(
    conn: asyncpg.Connection, directory: Path = MIGRATIONS_DIR, *, app_role: str = APP_ROLE
) -> list[int]:
    """Apply what is missing, then `ensure_tenancy`; return the versions applied now (empty
    when up to date).

    The connection is the schema's owner. Row-level security is forced on the owner too,
    so this session sees every organization's rows (`app.bypass_tenant`) for migrations
    that move data.
    """
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute("SELECT set_config('app.bypass_tenant', 'on', false)")
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version integer PRIMARY KEY,
                   name text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        applied = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        done: list[int] = []
        for migration in discover(directory):
            if migration.version in applied:
                continue
            async with conn.transaction():
                await conn.execute(migration.path.read_text(encoding="utf-8"))
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    migration.version,
                    migration.name,
                )
            log.info("applied migration %03d_%s", migration.version, migration.name)
            done.append(migration.version)
        await ensure_tenancy(conn, app_role)
        return done
    finally:
        await conn.execute(
            "SELECT pg_advisory_unlock($1), set_config('app.bypass_tenant', '', false)",
            _LOCK_KEY,
        )


async def pending_migrations(
    conn: asyncpg.Connection, directory: Path = MIGRATIONS_DIR
) -> list[Migration]:
    """What `apply_migrations` would apply now (everything on an empty database); read-only."""
    applied: set[int] = set()
    if await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL"):
        applied = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
    return [m for m in discover(directory) if m.version not in applied]
