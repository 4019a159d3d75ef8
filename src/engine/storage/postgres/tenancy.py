"""Row-level security on every organization's table, checked again at every start.

After the numbered migrations the runner calls `ensure_tenancy`, as the owner of the
schema. It is idempotent and finds its work in the catalog rather than in a list, so a
table a later migration adds is covered as soon as it has an `org_id` column:

- the runtime role (`APP_ROLE`, NOLOGIN, no SUPERUSER, no BYPASSRLS, owns nothing) exists
  and the owner may `SET ROLE` to it; the engine's pool does that on every new connection;
- that role may read and write every table and sequence of the schema, except the tables
  in `APPEND_ONLY_TABLES` (SELECT and INSERT only) and `schema_migrations` (SELECT);
- every table with an `org_id` column has ROW LEVEL SECURITY enabled and forced, and the
  policy `tenant_isolation_N` (N counts its versions): a row is visible and writable only
  when its `org_id` is the session's `app.org_id`, or when the session set
  `app.bypass_tenant` to `on` (the named cross-org paths of `storage/postgres/database.py`).
"""

from __future__ import annotations

import logging

import asyncpg

log = logging.getLogger(__name__)

APP_ROLE = "rugpt_app"
# A changed policy gets a new name; the old one is dropped wherever it is found.
POLICY_PREFIX = "tenant_isolation"
POLICY = f"{POLICY_PREFIX}_2"
# Tables the engine may only add to: the runtime role gets SELECT and INSERT, never UPDATE,
# DELETE or TRUNCATE. Names not created yet are skipped.
APPEND_ONLY_TABLES = ("audit_log",)

# The settings are read in sub-selects: PostgreSQL evaluates each once per statement (an
# InitPlan) instead of once per row (bench/README.md, "Row-level security").
TENANT_CONDITION = (
    "org_id = (SELECT nullif(current_setting('app.org_id', true), '')::uuid) "
    "OR (SELECT current_setting('app.bypass_tenant', true) = 'on')"
)

_ORG_TABLES = """
    SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
           EXISTS (SELECT 1 FROM pg_policy p
                   WHERE p.polrelid = c.oid AND p.polname = $1) AS has_policy,
           ARRAY(SELECT p.polname FROM pg_policy p
                 WHERE p.polrelid = c.oid AND p.polname <> $1
                   AND p.polname LIKE $2 || '%') AS stale_policies
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'org_id' AND NOT a.attisdropped
    WHERE c.relkind IN ('r', 'p')
    ORDER BY c.relname"""


class TenancySetupError(RuntimeError):
    """The runtime role is missing and the migrating user may not create it."""


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def org_tables(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Every table of the schema with an `org_id` column, and how it is protected."""
    return await conn.fetch(_ORG_TABLES, POLICY, POLICY_PREFIX)


async def ensure_app_role(conn: asyncpg.Connection, role: str = APP_ROLE) -> None:
    """Create the runtime role if missing; let the current user `SET ROLE` to it."""
    row = await conn.fetchrow(
        "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1", role
    )
    if row is None:
        try:
            # Two processes may start at once against different databases of one server
            # (roles are server-wide, the migration lock is per database): the loser of
            # the race sees duplicate_object or unique_violation, and the role exists.
            await conn.execute(f"CREATE ROLE {_ident(role)} NOLOGIN NOSUPERUSER NOBYPASSRLS")
            log.info("created the database role %s", role)
        except (asyncpg.DuplicateObjectError, asyncpg.UniqueViolationError):
            pass
        except asyncpg.InsufficientPrivilegeError as exc:
            user = await conn.fetchval("SELECT current_user")
            raise TenancySetupError(
                f"the database role {role} is missing and {user} may not create it; "
                f"as a superuser run: CREATE ROLE {role} NOLOGIN; GRANT {role} TO {user}; "
                "(docs/operations.md, 'External PostgreSQL')"
            ) from exc
    elif row["rolsuper"] or row["rolbypassrls"]:
        raise TenancySetupError(
            f"the database role {role} is SUPERUSER or BYPASSRLS, so row-level security "
            f"would not apply to it: ALTER ROLE {role} NOSUPERUSER NOBYPASSRLS"
        )
    # PostgreSQL 16 separates membership from the right to SET ROLE.
    option = "SET" if await conn.fetchval("SHOW server_version_num") >= "160000" else "MEMBER"
    is_super, may_set = await conn.fetchrow(
        f"SELECT rolsuper, pg_has_role(current_user, $1, '{option}') FROM pg_roles "
        "WHERE rolname = current_user",
        role,
    )
    if not is_super and not may_set:
        try:
            await conn.execute(f"GRANT {_ident(role)} TO CURRENT_USER")
        except asyncpg.InsufficientPrivilegeError as exc:
            user = await conn.fetchval("SELECT current_user")
            raise TenancySetupError(
                f"{user} may not SET ROLE {role}; as a superuser run: GRANT {role} TO {user};"
            ) from exc


async def ensure_tenancy(conn: asyncpg.Connection, role: str = APP_ROLE) -> list[str]:
    """Role, grants and row-level security as the module says; return the tables changed."""
    await ensure_app_role(conn, role)
    r = _ident(role)
    # One transaction: an append-only table is never writable in between, even for a
    # moment, while another replica runs.
    async with conn.transaction():
        await conn.execute(
            f"""GRANT USAGE ON SCHEMA public TO {r};
                GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {r};
                GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {r};
                ALTER DEFAULT PRIVILEGES IN SCHEMA public
                    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {r};
                ALTER DEFAULT PRIVILEGES IN SCHEMA public
                    GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {r};
                REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON schema_migrations FROM {r};"""
        )
        existing = {
            rec["relname"]
            for rec in await conn.fetch(
                "SELECT relname FROM pg_class WHERE relnamespace = current_schema()::regnamespace "
                "AND relname = ANY($1::text[]) AND relkind IN ('r', 'p')",
                list(APPEND_ONLY_TABLES),
            )
        }
        for table in sorted(existing):
            await conn.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON {_ident(table)} FROM {r}")
    changed: list[str] = []
    for table in await org_tables(conn):
        name = _ident(table["relname"])
        statements: list[str] = []
        if not table["relrowsecurity"]:
            statements.append(f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY")
        if not table["relforcerowsecurity"]:
            statements.append(f"ALTER TABLE {name} FORCE ROW LEVEL SECURITY")
        for stale in table["stale_policies"]:
            statements.append(f"DROP POLICY {_ident(stale)} ON {name}")
        if not table["has_policy"]:
            statements.append(
                f"CREATE POLICY {POLICY} ON {name} "
                f"USING ({TENANT_CONDITION}) WITH CHECK ({TENANT_CONDITION})"
            )
        if statements:
            async with conn.transaction():
                for statement in statements:
                    await conn.execute(statement)
            changed.append(table["relname"])
    if changed:
        log.info("row-level security set on %s", ", ".join(changed))
    return changed
