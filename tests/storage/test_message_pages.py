"""Message pages are read through the chat index, bounded by `before_id`, also when the
prepared statement runs with a generic plan (as asyncpg's cached statements may)."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest

from engine.storage.messages import MessageStorage
from engine.storage.postgres.tenancy import APP_ROLE


class _Capture:
    def __init__(self) -> None:
        self.sent: list[tuple[str, tuple[Any, ...]]] = []

    def tenant(self, org_id: UUID) -> _Capture:
        return self

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        self.sent.append((query, args))
        return []


async def _page_sql(
    before_id: int | None, org: UUID, chat: UUID, member: UUID | None
) -> tuple[str, tuple[Any, ...]]:
    capture = _Capture()
    storage = MessageStorage(capture)  # type: ignore[arg-type]
    if member is None:
        await storage.page(org, chat, limit=50, before_id=before_id)
    else:  # the page with the reader's membership and account checked in the same statement
        await storage.page_for_member(org, chat, member, limit=50, before_id=before_id)
    return capture.sent[0]


@pytest.mark.parametrize("for_member", [False, True], ids=["page", "page_for_member"])
@pytest.mark.parametrize("row_level_security", [False, True], ids=["owner", "runtime-role"])
async def test_generic_plan_bounds_the_index_scan_by_before_id(
    database_url: str,
    app: Any,  # started: the database is migrated
    row_level_security: bool,
    for_member: bool,
) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        org, chat, user = await _chat_with_messages(conn, 300)
        member = user if for_member else None
        newest = await conn.fetchval("SELECT max(id) FROM messages WHERE chat_id = $1", chat)
        if row_level_security:  # as the engine runs it: policies apply
            await conn.execute(f"SET ROLE {APP_ROLE}")
            await conn.execute("SELECT set_config('app.org_id', $1, false)", str(org))
        await conn.execute("SET plan_cache_mode = force_generic_plan")
        await conn.execute("SET enable_seqscan = off")
        for before_id in (None, newest - 100):
            query, args = await _page_sql(before_id, org, chat, member)
            await conn.execute(f"PREPARE page_q AS {query}")
            values = ", ".join("NULL" if a is None else f"'{a}'" for a in args)
            rows = await conn.fetch(f"EXPLAIN (ANALYZE, COSTS OFF) EXECUTE page_q({values})")
            plan = "\n".join(r[0] for r in rows)
            await conn.execute("DEALLOCATE page_q")
            lines = plan.splitlines()  # the scan of messages (the member check reads others)
            scan = next(i for i, line in enumerate(lines) if " on messages " in line)
            index_cond = next((line for line in lines[scan:] if "Index Cond" in line), "")
            assert "chat_id = $2" in index_cond, plan
            if before_id is not None:
                assert f"id < ${len(args) - 1}" in index_cond, plan
            assert "IS NULL" not in plan and "Rows Removed by Filter" not in plan, plan
            assert "Seq Scan" not in plan and "rows=50 " in plan, plan
    finally:
        await conn.close()


async def _chat_with_messages(conn: asyncpg.Connection, count: int) -> tuple[UUID, UUID, UUID]:
    slug = f"pages-{uuid4().hex[:8]}"
    org = await conn.fetchval(
        "INSERT INTO organizations (slug, name) VALUES ($1, $1) RETURNING id", slug
    )
    user = await conn.fetchval(
        "INSERT INTO users (org_id, username, password_hash, role) "
        "VALUES ($1, 'pager', 'x', 'user') RETURNING id",
        org,
    )
    chat = await conn.fetchval(
        "INSERT INTO chats (org_id, kind, created_by) VALUES ($1, 'group', $2) RETURNING id",
        org,
        user,
    )
    await conn.execute(
        "INSERT INTO chat_members (org_id, chat_id, user_id) VALUES ($1, $2, $3)", org, chat, user
    )
    others = [
        await conn.fetchval(
            "INSERT INTO chats (org_id, kind, created_by) VALUES ($1, 'group', $2) RETURNING id",
            org,
            user,
        )
        for _ in range(50)
    ]
    # this chat's messages first, then newer traffic of many other chats
    await conn.execute(
        "INSERT INTO messages (org_id, chat_id, author_id, kind, content) "
        "SELECT $1, $2, $3, 'user', 'm' || g FROM generate_series(1, $4) g",
        org,
        chat,
        user,
        count,
    )
    await conn.execute(
        "INSERT INTO messages (org_id, chat_id, author_id, kind, content) "
        "SELECT $1, ($2::uuid[])[1 + g % 50], $3, 'user', 'o' || g FROM generate_series(1, $4) g",
        org,
        others,
        user,
        count * 10,
    )
    # statistics as autovacuum keeps them (the member check's plan depends on those of chats)
    await conn.execute("ANALYZE messages, chats, chat_members, users, organizations")
    return org, chat, user
