"""7. Row-level security: what the policies and the tenant context cost per statement.

The engine's own storage calls of the write path (the per-request user lookup, then the
member's message insert) and of the read path (the newest 50-message page of a chat), run
through `Database` scopes on two pools of the same database, in the same process, one
caller, the two sides alternating call by call: **rls**, the engine's pool (`SET ROLE
rugpt_app`: policies apply, contexts are set), and **off**, the same pool set-up without
the role switch (the DSN's superuser, whom row-level security does not apply to) and a
`Database` that never sets a context — what the engine was before. A third case sends the
write path with the organization changing on every call (the borrowed connection then
switches its context first: the worst case of many organizations on few connections).
No HTTP, no engine process, commits without waiting for the disk: the difference is the
database-side cost alone, which the end-to-end benchmarks 1 and 5 cannot resolve on a
shared machine.

    PYTHONPATH=src:. python bench/rls_cost.py [--calls 3000]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg  # noqa: E402

from bench import common  # noqa: E402
from bench.common import Figure  # noqa: E402

Op = Callable[[int], Awaitable[object]]


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=3000, help="calls per side and case")
    parser.add_argument("--orgs", type=int, default=8, help="organizations (switching case)")
    parser.add_argument("--messages", type=int, default=20_000, help="messages in the read chat")
    return parser.parse_args(argv)


async def seed(dsn: str, orgs: int, messages: int) -> list[tuple[UUID, UUID, UUID]]:
    """(org, user, chat) per organization; the first chat holds `messages` messages."""
    from engine.storage.postgres.migrations import apply_migrations

    conn = await asyncpg.connect(dsn)
    try:
        await apply_migrations(conn)
        await conn.execute("SELECT set_config('app.bypass_tenant', 'on', false)")
        out = []
        for index in range(orgs):
            org = await conn.fetchval(
                "INSERT INTO organizations (slug, name) VALUES ($1, 'b') RETURNING id",
                f"bench-{index}",
            )
            user = await conn.fetchval(
                "INSERT INTO users (org_id, username, password_hash) VALUES ($1, 'u', 'x') "
                "RETURNING id",
                org,
            )
            chat = await conn.fetchval(
                "INSERT INTO chats (org_id, kind, created_by) VALUES ($1, 'group', $2) "
                "RETURNING id",
                org,
                user,
            )
            await conn.execute(
                "INSERT INTO chat_members (org_id, chat_id, user_id) VALUES ($1, $2, $3)",
                org,
                chat,
                user,
            )
            out.append((org, user, chat))
        org, user, chat = out[0]
        await conn.execute(
            """INSERT INTO messages (org_id, chat_id, author_id, kind, content)
               SELECT $1, $2, $3, 'user', 'Сообщение ' || g FROM generate_series(1, $4) AS g""",
            org,
            chat,
            user,
            messages,
        )
        await conn.execute("ANALYZE")
        # The disk flush of each commit (1-5 ms here, the same on both sides) would drown
        # the difference this benchmark is after.
        await conn.execute(
            f'ALTER DATABASE "{await conn.fetchval("SELECT current_database()")}" '
            "SET synchronous_commit = off"
        )
        return out
    finally:
        await conn.close()


def storage_calls(db: Any, tenants: list[tuple[UUID, UUID, UUID]]) -> dict[str, Op]:
    from engine.storage.messages import MessageStorage
    from engine.storage.users import UserStorage

    users, messages = UserStorage(db), MessageStorage(db)

    def write(pick: Callable[[int], int]) -> Op:
        async def op(index: int) -> object:
            org, user, chat = tenants[pick(index)]
            await users.get_active_for_token(org, user)
            return await messages.insert_by_member(org, chat, user, "текст", None)

        return op

    async def read(index: int) -> object:
        org, _, chat = tenants[0]
        return await messages.page(org, chat, limit=50)

    return {
        "write, one organization": write(lambda i: 1),
        f"write, {len(tenants) - 1} organizations in turn": write(
            lambda i: 1 + i % (len(tenants) - 1)
        ),
        "read: newest page of 50": read,
    }


async def measure(args: argparse.Namespace) -> list[Figure]:
    from engine.storage.postgres.database import Database, create_pool

    class NoContext(Database):
        """The engine before row-level security: a pooled connection as it is."""

        async def _switch(self, conn: asyncpg.Connection, context: str | None) -> None:
            pass

    async with common.postgres() as admin_dsn, common.fresh_database(admin_dsn) as dsn:
        tenants = await seed(dsn, args.orgs, args.messages)
        pools = {
            "rls": await create_pool(dsn, min_size=4, max_size=4, command_timeout=30),
            "off": await create_pool(dsn, min_size=4, max_size=4, command_timeout=30, role=None),
        }
        try:
            cases: dict[tuple[str, str], list[float]] = {}
            ops: dict[tuple[str, str], Op] = {}
            for side, pool in pools.items():
                db = Database(pool) if side == "rls" else NoContext(pool)
                for case, op in storage_calls(db, tenants).items():
                    ops[(side, case)] = op
            for op in ops.values():  # warm the connections and their statement caches
                for index in range(50):
                    await op(index)
            # Call by call, the two sides alternate (which goes first alternates too): a
            # machine shared with other work slows both alike; medians ignore the spikes.
            for case in dict.fromkeys(case for _, case in ops):
                for index in range(args.calls):
                    for side in ("rls", "off") if index % 2 else ("off", "rls"):
                        start = time.perf_counter()
                        await ops[(side, case)](index)
                        cases.setdefault((side, case), []).append(time.perf_counter() - start)
        finally:
            for pool in pools.values():
                await pool.close()

    figures: list[Figure] = []
    names = dict.fromkeys(case for _, case in cases)
    for case in names:
        off = common.median(cases[("off", case)]) * 1000
        rls = common.median(cases[("rls", case)]) * 1000
        figures.append(
            Figure("7 RLS", f"{case}: off / rls, median ms per call", f"{off:.3f} / {rls:.3f}")
        )
        figures.append(Figure("7 RLS", f"{case}: cost", f"{(rls / off - 1) * 100:+.1f}%"))
    return figures


def main(argv: Sequence[str] | None = None) -> list[Figure]:
    args = parse(argv)
    figures = common.run(lambda: measure(args))
    common.print_figures(figures)
    write = next(f for f in figures if f.name.startswith("write, one") and "cost" in f.name)
    print(f"RESULT 7 RLS: write path cost {write.value}")
    return figures


if __name__ == "__main__":
    main()
