"""A real PostgreSQL for the suite: embedded (pgserver) by default, or TEST_DATABASE_URL."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg


def _with_database(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


@contextmanager
def postgres_server(workdir: Path | None = None) -> Iterator[str]:
    """Yield an admin DSN of a running server; stop it afterwards when we started it.

    The data folder lives in its own temp dir (world-traversable: as root, pgserver runs
    PostgreSQL as an unprivileged user), apart from pytest's rotating temp dirs.
    """
    external = os.environ.get("TEST_DATABASE_URL")
    if external:
        yield external
        return
    import pgserver

    base = Path(tempfile.mkdtemp(prefix="rugpt-pg-", dir=workdir))
    base.chmod(0o755)
    pgdata = base / "pg"
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    try:
        yield f"postgresql://postgres@/postgres?host={pgdata.resolve()}"
    finally:
        server.cleanup()
        shutil.rmtree(base, ignore_errors=True)


async def create_database(
    admin_dsn: str, prefix: str = "rugpt_test", *, template: str | None = None
) -> str:
    name = f"{prefix}_{secrets.token_hex(6)}"
    conn = await asyncpg.connect(admin_dsn)
    try:
        clone = f' TEMPLATE "{template}"' if template else ""
        await conn.execute(f'CREATE DATABASE "{name}"{clone}')
    finally:
        await conn.close()
    return _with_database(admin_dsn, name)


async def drop_database(admin_dsn: str, dsn: str) -> None:
    name = urlsplit(dsn).path.lstrip("/")
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
