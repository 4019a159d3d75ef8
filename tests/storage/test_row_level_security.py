"""Row-level security: the database itself keeps organizations apart, whatever SQL is sent.

The statements below deliberately have no `WHERE org_id`: they stand for a storage method
that forgot it. They run through the engine's own pool and scopes (`Database`), as every
storage statement does.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID

import asyncpg
import pytest
from fastapi import FastAPI

from engine.storage.audit import purge_older_than
from engine.storage.postgres.database import Database, create_pool
from engine.storage.postgres.migrations import apply_migrations
from engine.storage.postgres.tenancy import (
    APP_ROLE,
    APPEND_ONLY_TABLES,
    POLICY,
    TenancySetupError,
    org_tables,
)
from tests.support.api import Api
from tests.support.database import create_database, drop_database
from tests.support.objects import OrgObjects, populate

# Every table that holds an organization's data today; a new one is found by `org_tables`.
KNOWN_ORG_TABLES = {
    "users",
    "refresh_tokens",
    "roles",
    "chats",
    "chat_members",
    "messages",
    "mentions",
    "documents",
    "document_chunks",
    "calendar_events",
    "calendar_event_runs",
    "notification_channels",
    "notifications",
    "notification_log",
    "telegram_link_tokens",
    "proposals",
    "audit_log",
}


class _RollBack(Exception):
    """Raised to undo a test's writes."""


@pytest.fixture(scope="module")
async def two_orgs(api: Api, app: FastAPI) -> tuple[OrgObjects, OrgObjects]:
    a = await populate(api, await api.create_org(members=1), app.state.engine)
    b = await populate(api, await api.create_org(members=1), app.state.engine)
    return a, b


@pytest.fixture
async def owner(database_url: str, app: FastAPI) -> AsyncIterator[asyncpg.Connection]:
    """The DSN's own user (a superuser here): sees every row, for checking."""
    conn = await asyncpg.connect(database_url)
    try:
        yield conn
    finally:
        await conn.close()


def _org(objects: OrgObjects) -> UUID:
    return UUID(objects.org.id)


async def test_every_org_table_has_row_level_security_forced(
    owner: asyncpg.Connection,
) -> None:
    tables = await org_tables(owner)
    names = {t["relname"] for t in tables}
    assert KNOWN_ORG_TABLES <= names
    unprotected = [
        t["relname"]
        for t in tables
        if not (t["relrowsecurity"] and t["relforcerowsecurity"] and t["has_policy"])
        or t["stale_policies"]
    ]
    assert unprotected == []
    role = await owner.fetchrow(
        "SELECT rolsuper, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname = $1", APP_ROLE
    )
    assert role is not None and not role["rolsuper"] and not role["rolbypassrls"]
    owned = await owner.fetchval(
        "SELECT count(*) FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles "
        "WHERE rolname = $1)",
        APP_ROLE,
    )
    assert owned == 0


async def test_the_engine_runs_as_the_runtime_role(app: FastAPI) -> None:
    db: Database = app.state.engine.db
    assert await db.shared().fetchval("SELECT current_user") == APP_ROLE


async def test_unscoped_select_and_update_in_org_a_touch_nothing_of_org_b(
    app: FastAPI, two_orgs: tuple[OrgObjects, OrgObjects], owner: asyncpg.Connection
) -> None:
    a, b = two_orgs
    db: Database = app.state.engine.db
    seen: dict[str, set[UUID]] = {}
    updated: dict[str, set[UUID]] = {}
    with pytest.raises(_RollBack):
        async with db.tenant(_org(a)).transaction() as conn:
            for table in sorted(KNOWN_ORG_TABLES):
                rows = await conn.fetch(f"SELECT org_id FROM {table}")
                seen[table] = {r["org_id"] for r in rows}
                if table in APPEND_ONLY_TABLES:
                    continue
                rows = await conn.fetch(f"UPDATE {table} SET org_id = org_id RETURNING org_id")
                updated[table] = {r["org_id"] for r in rows}
            raise _RollBack
    assert all(orgs <= {_org(a)} for orgs in seen.values()), seen
    assert all(orgs <= {_org(a)} for orgs in updated.values()), updated
    # not vacuous: A sees its own rows, and B has rows in the same tables
    populated = {t for t, orgs in seen.items() if orgs}
    assert {
        "users",
        "chats",
        "messages",
        "documents",
        "calendar_events",
        "proposals",
        "audit_log",
    } <= populated
    for table in populated:
        assert await owner.fetchval(f"SELECT count(*) FROM {table} WHERE org_id = $1", _org(b)), (
            table
        )


async def test_unscoped_update_changes_none_of_org_b_rows(
    app: FastAPI, two_orgs: tuple[OrgObjects, OrgObjects], owner: asyncpg.Connection
) -> None:
    a, b = two_orgs
    db: Database = app.state.engine.db
    before = await owner.fetch(
        "SELECT id, content FROM messages WHERE org_id = $1 ORDER BY id", _org(b)
    )
    with pytest.raises(_RollBack):
        async with db.tenant(_org(a)).transaction() as conn:
            status = await conn.execute("UPDATE messages SET content = 'overwritten'")
            assert int(status.split()[-1]) > 0, "A's own messages are updated"
            status = await conn.execute(
                "UPDATE messages SET content = 'overwritten' WHERE org_id = $1", _org(b)
            )
            assert status == "UPDATE 0"
            assert await conn.execute("DELETE FROM users WHERE org_id = $1", _org(b)) == (
                "DELETE 0"
            )
            raise _RollBack
    # a single statement, not in a transaction of its own, commits at once: B is untouched
    assert await db.tenant(_org(a)).execute(
        "UPDATE messages SET is_edited = is_edited WHERE org_id = $1", _org(b)
    ) == ("UPDATE 0")
    after = await owner.fetch(
        "SELECT id, content FROM messages WHERE org_id = $1 ORDER BY id", _org(b)
    )
    assert after == before and before


async def test_a_row_for_another_org_cannot_be_written(
    app: FastAPI, two_orgs: tuple[OrgObjects, OrgObjects]
) -> None:
    a, b = two_orgs
    db: Database = app.state.engine.db
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
        await db.tenant(_org(a)).execute(
            "INSERT INTO roles (org_id, code, name, agent_type) VALUES ($1, 'spy', 's', 'simple')",
            _org(b),
        )
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
        await db.tenant(_org(a)).execute(
            "UPDATE chats SET org_id = $1 WHERE org_id = $2", _org(b), _org(a)
        )


async def test_no_context_sees_no_tenant_rows(
    database_url: str, two_orgs: tuple[OrgObjects, OrgObjects], owner: asyncpg.Connection
) -> None:
    assert await owner.fetchval("SELECT count(*) FROM users") > 0
    pool = await create_pool(database_url, min_size=1, max_size=1, command_timeout=10)
    try:
        async with pool.acquire() as conn:  # the engine's connection set-up, nothing more
            for table in sorted(KNOWN_ORG_TABLES):
                assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0, table
            assert await conn.fetchval("SELECT count(*) FROM organizations") > 0
    finally:
        await pool.close()


async def test_one_connection_switches_context_between_uses(
    database_url: str, two_orgs: tuple[OrgObjects, OrgObjects]
) -> None:
    """One pooled connection serving A, then nobody, then B, then the system paths."""
    a, b = two_orgs
    pool = await create_pool(database_url, min_size=1, max_size=1, command_timeout=10)
    db = Database(pool)
    count = "SELECT count(DISTINCT org_id) FROM users WHERE org_id = ANY($1::uuid[])"
    both = [_org(a), _org(b)]
    try:
        assert await db.tenant(_org(a)).fetchval(count, both) == 1
        assert await db.shared().fetchval(count, both) == 0
        assert await db.tenant(_org(b)).fetchval("SELECT org_id FROM users LIMIT 1") == _org(b)
        assert await db.system("login").fetchval(count, both) == 2
        async with db.tenant(_org(a)).transaction() as conn:
            assert await conn.fetchval(count, both) == 1
        assert await db.shared().fetchval(count, both) == 0
    finally:
        await pool.close()


async def test_a_tableless_statement_keeps_an_organizations_context(
    database_url: str, two_orgs: tuple[OrgObjects, OrgObjects]
) -> None:
    """`pg_notify` after each posted message must not flip the connection out of the
    organization's context (two round trips more per message), yet never inherits the
    system context."""
    a, _ = two_orgs
    pool = await create_pool(database_url, min_size=1, max_size=1, command_timeout=10)
    db = Database(pool)
    try:
        await db.tenant(_org(a)).fetchval("SELECT 1")
        await db.tableless().execute("SELECT pg_notify('rugpt_probe', 'x')")
        async with db.tableless().connection() as conn:
            assert conn.tenant_context() == str(_org(a))
        await db.system("login").fetchval("SELECT 1")
        async with db.tableless().connection() as conn:
            assert conn.tenant_context() is None
            assert await conn.fetchval("SELECT count(*) FROM users") == 0
    finally:
        await pool.close()


@pytest.fixture
async def fresh_database(pg_admin_dsn: str) -> AsyncIterator[str]:
    dsn = await create_database(pg_admin_dsn, prefix="rugpt_rls")
    yield dsn
    await drop_database(pg_admin_dsn, dsn)


async def test_a_table_added_later_is_protected_at_the_next_start(
    fresh_database: str, tmp_path: Any
) -> None:
    """A later migration's table with `org_id` gets RLS without naming it anywhere, an
    earlier version of the policy is replaced, and an append-only table grants the engine
    no UPDATE or DELETE."""
    assert "audit_log" in APPEND_ONLY_TABLES
    conn = await asyncpg.connect(fresh_database)
    try:
        await apply_migrations(conn)
        # audit_log (a migration's table) stripped of its protection, as if it were new
        await conn.execute(
            f"""DROP POLICY {POLICY} ON audit_log;
               ALTER TABLE audit_log NO FORCE ROW LEVEL SECURITY;
               ALTER TABLE audit_log DISABLE ROW LEVEL SECURITY;
               GRANT UPDATE, DELETE ON audit_log TO {APP_ROLE};
               CREATE TABLE later_things (id bigserial PRIMARY KEY,
                   org_id uuid NOT NULL REFERENCES organizations);
               CREATE POLICY tenant_isolation ON users USING (true)"""
        )
        await apply_migrations(conn)
        policies = await conn.fetch(
            "SELECT tablename FROM pg_policies WHERE policyname = $1 "
            "AND tablename IN ('audit_log', 'later_things')",
            POLICY,
        )
        assert {p["tablename"] for p in policies} == {"audit_log", "later_things"}
        # an earlier version of the policy (here one that would let everything through)
        # is replaced, not left beside the current one
        assert await conn.fetchval(
            "SELECT array_agg(policyname) FROM pg_policies WHERE tablename = 'users'"
        ) == [POLICY]
        orgs = [
            await conn.fetchval(
                "INSERT INTO organizations (slug, name) VALUES ($1, 'x') RETURNING id", slug
            )
            for slug in ("first", "second")
        ]
        for org_id in orgs:
            await conn.execute("INSERT INTO audit_log (org_id, action) VALUES ($1, 'seed')", org_id)
    finally:
        await conn.close()
    pool = await create_pool(fresh_database, min_size=1, max_size=1, command_timeout=10)
    db = Database(pool)
    try:
        first = db.tenant(orgs[0])
        await first.execute("INSERT INTO audit_log (org_id, action) VALUES ($1, 'login')", orgs[0])
        assert await first.fetchval("SELECT count(*) FROM audit_log") == 2
        assert await db.system("login").fetchval("SELECT count(*) FROM audit_log") == 3
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await first.execute("UPDATE audit_log SET action = 'changed'")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await db.system("login").execute("DELETE FROM audit_log")
        await first.execute("INSERT INTO later_things (org_id) VALUES ($1)", orgs[0])
        assert await db.tenant(orgs[1]).fetchval("SELECT count(*) FROM later_things") == 0
    finally:
        await pool.close()


async def test_two_first_starts_at_once_create_the_role_once(pg_admin_dsn: str) -> None:
    """Roles belong to the server, the migration lock to one database: two databases
    migrated at once race to create the same role, and both start."""
    role = f"rugpt_app_race_{secrets.token_hex(4)}"
    dsns = [await create_database(pg_admin_dsn, prefix="rugpt_race") for _ in range(2)]

    async def migrate(dsn: str) -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await apply_migrations(conn, app_role=role)
        finally:
            await conn.close()

    try:
        await asyncio.gather(*(migrate(dsn) for dsn in dsns))
        for dsn in dsns:
            pool = await create_pool(dsn, min_size=1, max_size=1, command_timeout=10, role=role)
            try:
                assert await Database(pool).shared().fetchval("SELECT current_user") == role
            finally:
                await pool.close()
    finally:
        for dsn in dsns:
            conn = await asyncpg.connect(dsn)
            try:
                await conn.execute(f'DROP OWNED BY "{role}"')
            finally:
                await conn.close()
            await drop_database(pg_admin_dsn, dsn)
        admin = await asyncpg.connect(pg_admin_dsn)
        try:
            await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        finally:
            await admin.close()


def _as_user(dsn: str, user: str, database: str) -> str:
    parts = urlsplit(dsn)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, f"{user}@{host}", f"/{database}", parts.query, ""))


@pytest.mark.slow
async def test_a_database_owner_without_superuser_rights(pg_admin_dsn: str) -> None:
    """The external set-up of docs/operations.md: the DSN's user owns the database and may
    not create roles. Migrations say what to run while the role is missing, then work once
    a superuser created it; the engine's statements are confined; the documented backup
    command dumps every organization's rows."""
    tag = secrets.token_hex(4)
    owner_role, app_role, database = f"rugpt_owner_{tag}", f"rugpt_app_{tag}", f"rugpt_ext_{tag}"
    admin = await asyncpg.connect(pg_admin_dsn)
    await admin.execute(f'CREATE ROLE "{owner_role}" LOGIN')
    await admin.execute(f'CREATE DATABASE "{database}" OWNER "{owner_role}"')
    dsn = _as_user(pg_admin_dsn, owner_role, database)
    try:
        conn = await asyncpg.connect(dsn)
        try:
            with pytest.raises(TenancySetupError, match=f"CREATE ROLE {app_role} NOLOGIN"):
                await apply_migrations(conn, app_role=app_role)
            await admin.execute(f'CREATE ROLE "{app_role}" NOLOGIN')
            await admin.execute(f'GRANT "{app_role}" TO "{owner_role}"')
            await apply_migrations(conn, app_role=app_role)
            orgs = [
                await conn.fetchval(
                    "INSERT INTO organizations (slug, name) VALUES ($1, 'x') RETURNING id", slug
                )
                for slug in ("first", "second")
            ]
        finally:
            await conn.close()
        pool = await create_pool(dsn, min_size=1, max_size=1, command_timeout=10, role=app_role)
        db = Database(pool)
        try:
            for org_id in orgs:
                await db.tenant(org_id).execute(
                    "INSERT INTO users (org_id, username, password_hash) VALUES ($1, 'u', 'x')",
                    org_id,
                )
            assert await db.tenant(orgs[0]).fetchval("SELECT count(*) FROM users") == 1
            assert await db.shared().fetchval("SELECT count(*) FROM users") == 0
        finally:
            await pool.close()
        owner_conn = await asyncpg.connect(dsn)
        try:  # row-level security is forced on the owner too, outside the named bypass
            assert await owner_conn.fetchval("SELECT count(*) FROM users") == 0
            async with owner_conn.transaction():
                await owner_conn.execute("SELECT set_config('app.bypass_tenant', 'on', true)")
                for org_id in orgs:
                    await owner_conn.execute(
                        "INSERT INTO audit_log (org_id, at, action) "
                        "VALUES ($1, now() - interval '40 days', 'test.old')",
                        org_id,
                    )
            # `rugpt audit-purge` runs as this owner: a plain DELETE would reach no row
            assert await owner_conn.execute(
                "DELETE FROM audit_log WHERE at < now() - interval '30 days'"
            ) == ("DELETE 0")
            assert await purge_older_than(owner_conn, 30) == 2
        finally:
            await owner_conn.close()
        dump = await _pg_dump(dsn)
        assert dump.count("\tu\t") == 2, "both organizations' users are in the dump"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.execute(f'DROP ROLE IF EXISTS "{owner_role}"')
        await admin.execute(f'DROP ROLE IF EXISTS "{app_role}"')
        await admin.close()


async def _pg_dump(dsn: str) -> str:
    """The backup command of docs/operations.md for an external server, plain format."""
    import pgserver

    pg_dump = Path(pgserver.__file__).parent / "pginstall" / "bin" / "pg_dump"
    process = await asyncio.create_subprocess_exec(
        str(pg_dump),
        "--enable-row-security",
        "--data-only",
        "--table=users",
        dsn,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PGOPTIONS": "-c app.bypass_tenant=on"},
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()
