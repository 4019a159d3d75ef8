"""Benchmark 4, scheduler throughput.

`--events` (10,000) one-time calendar events, all due, no AI role, each notifying its owner
by email (SMTP to the test suite's FakeSMTP in this process; 1 email per event).
Baseline: a raw SQL loop doing only the scheduler's claim, on the same database: in one
transaction `SELECT ... FOR UPDATE SKIP LOCKED LIMIT <batch>` of due events, then
`UPDATE` them as handled, until none is left.
Engine: a live engine with its scheduler on (SCHEDULER_INTERVAL_SECONDS=0.2) fires them:
a run row per occurrence, the event moved on, the notification queued in the outbox, and
the notification dispatcher mails it. Time to fire all is first claim -> last run done
(database clock); mailing is reported apart. Then the same with two engine processes on
the database: every event fired once and mailed once. The two engines share one database, so
each would also receive the other's chat-event relay notifications (LISTEN/NOTIFY); a
firing posts no chat message, so there are next to none here.

With an agent: `--agent-events` (1,000) one-time events whose firing runs an AI role
(`role_code` = `--agent-role`, accountant: one model call to the scripted LLM, which runs
in its own process and answers at once), then mails its answer; one engine, the
scheduler's own concurrency (SCHEDULER_CONCURRENCY) and the LLM limit at their defaults.

    PYTHONPATH=src:. python bench/scheduler.py [--events 10000] [--users 100]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import secrets
import sys
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any
from uuid import UUID

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg  # noqa: E402

from bench import common  # noqa: E402
from bench.common import Figure  # noqa: E402

NAME = "4 scheduler"
BATCH = 100  # SCHEDULER_BATCH_SIZE's default, used by both sides
RAW_CLAIM = """SELECT id FROM calendar_events
               WHERE is_active AND NOT is_deleted AND next_run_at <= now()
               ORDER BY next_run_at LIMIT $1 FOR UPDATE SKIP LOCKED"""
RAW_UPDATE = """UPDATE calendar_events SET next_run_at = NULL, next_occurrence_at = NULL
                WHERE id = ANY($1::uuid[])"""


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000, help="due one-time events")
    parser.add_argument("--users", type=int, default=100, help="owners (one email each)")
    parser.add_argument("--processes", type=int, default=2, help="engines of the 2nd run")
    parser.add_argument("--interval", type=float, default=0.2, help="scheduler polling, s")
    parser.add_argument(
        "--agent-events", type=int, default=1000, help="due events that run an agent (0: none)"
    )
    parser.add_argument("--agent-role", default="accountant", help="the agent those events run")
    return parser.parse_args(argv)


async def prepare(dsn: str, users: int) -> tuple[UUID, list[UUID]]:
    """Migrate the database and add an organization whose users each have an email channel."""
    from engine.storage.postgres.migrations import apply_migrations

    conn = await asyncpg.connect(dsn)
    try:
        await apply_migrations(conn)
        org_id = await conn.fetchval(
            "INSERT INTO organizations (slug, name) VALUES ($1, 'Bench') RETURNING id",
            f"bench-{secrets.token_hex(4)}",
        )
        user_ids = [
            r["id"]
            for r in await conn.fetch(
                """INSERT INTO users (org_id, username, email, password_hash)
                   SELECT $1, 'user' || g, 'user' || g || '@example.com', 'x'
                   FROM generate_series(1, $2) g RETURNING id""",
                org_id,
                users,
            )
        ]
        await conn.execute(
            """INSERT INTO notification_channels (org_id, user_id, type, address, verified)
               SELECT $1, u.id, 'email', u.email, true FROM users u WHERE u.org_id = $1""",
            org_id,
        )
        await conn.execute(
            """INSERT INTO roles (org_id, code, name, description, agent_type, tools,
                                  prompt_file, config)
               SELECT $1, code, name, description, agent_type, tools, prompt_file, config
               FROM role_templates""",
            org_id,
        )
        return org_id, user_ids
    finally:
        await conn.close()


async def add_due_events(
    dsn: str,
    org_id: UUID,
    owners: list[UUID],
    count: int,
    tag: str,
    role_code: str | None = None,
) -> Any:
    """`count` one-time events due a second ago (running `role_code` when given); returns
    the database time of the commit."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            """INSERT INTO calendar_events (org_id, owner_id, title, starts_at, kind, timezone,
                                            next_occurrence_at, next_run_at, role_code, prompt)
               SELECT $1, ($2::uuid[])[1 + g % cardinality($2::uuid[])], $3 || ' ' || g,
                      now() - interval '1 second', 'one_time', 'UTC',
                      now() - interval '1 second', now() - interval '1 second',
                      $5, CASE WHEN $5::text IS NOT NULL THEN 'Какие платежи на этой неделе? ' || g
                      END
               FROM generate_series(1, $4) g""",
            org_id,
            owners,
            f"bench {tag}",
            count,
            role_code,
        )
        committed = await conn.fetchval("SELECT clock_timestamp()")
        await conn.execute("ANALYZE calendar_events")
        return committed
    finally:
        await conn.close()


async def raw_claim_loop(dsn: str) -> tuple[float, int]:
    conn = await asyncpg.connect(dsn)
    claimed = 0
    try:
        started = time.perf_counter()
        while True:
            async with conn.transaction():
                ids = [r["id"] for r in await conn.fetch(RAW_CLAIM, BATCH)]
                if not ids:
                    break
                await conn.execute(RAW_UPDATE, ids)
            claimed += len(ids)
        return time.perf_counter() - started, claimed
    finally:
        await conn.close()


async def wait_fired(dsn: str, tag: str, count: int, timeout: float) -> dict[str, Any]:
    """Poll until every event of `tag` has a finished run; return counts and timings."""
    conn = await asyncpg.connect(dsn)
    deadline = time.monotonic() + timeout
    try:
        while True:
            row = await conn.fetchrow(
                """SELECT count(*) FILTER (WHERE r.status = 'done') AS done,
                          count(*) FILTER (WHERE r.status <> 'done') AS other,
                          count(*) FILTER (WHERE r.agent_status = 'ok') AS agent_ok,
                          count(*) AS runs, count(DISTINCT r.event_id) AS events,
                          min(r.created_at) AS first_claim, max(r.finished_at) AS last_done
                   FROM calendar_event_runs r JOIN calendar_events e ON e.id = r.event_id
                   WHERE e.title LIKE $1""",
                f"bench {tag} %",
            )
            if row["done"] >= count or time.monotonic() > deadline:
                return dict(row)
            await asyncio.sleep(0.25)
    finally:
        await conn.close()


async def fire_with_engines(
    dsn: str,
    llm_url: str,
    smtp: Any,
    org_id: UUID,
    owners: list[UUID],
    args: argparse.Namespace,
    processes: int,
    tag: str,
    events: int | None = None,
    role_code: str | None = None,
) -> dict[str, Any]:
    count = args.events if events is None else events
    settings = {
        "scheduler_enabled": "true",
        "scheduler_interval_seconds": args.interval,
        "notification_dispatch_interval_seconds": args.interval,
        "smtp_host": smtp.host,
        "smtp_port": smtp.port,
        "smtp_security": "none",
        "smtp_from": "rugpt@example.com",
    }
    async with AsyncExitStack() as stack:
        engines = [
            await stack.enter_async_context(common.engine_process(dsn, llm_url, **settings))
            for _ in range(processes)
        ]
        mailed_before = len(smtp.messages)
        committed = await add_due_events(dsn, org_id, owners, count, tag, role_code)
        cpu_before = sum(common.process_cpu_s(e.pid) for e in engines)
        started = time.perf_counter()
        result = await wait_fired(dsn, tag, count, timeout=max(300.0, count / 10))
        fired_wall = time.perf_counter() - started
        cpu_s = sum(common.process_cpu_s(e.pid) for e in engines) - cpu_before
        result["cpu_ms_per_event"] = cpu_s * 1000.0 / count
        deadline = time.monotonic() + max(300.0, count / 5)
        while len(smtp.messages) - mailed_before < count and time.monotonic() < deadline:
            await asyncio.sleep(0.25)
        result["mailed_s"] = time.perf_counter() - started
        result["rss_mb"] = [e.rss_mb() for e in engines]
    mails = smtp.messages[mailed_before:]
    per_subject = collections.Counter(m.subject for m in mails)
    result["mails"] = len(mails)
    result["mail_duplicates"] = sum(n - 1 for n in per_subject.values() if n > 1)
    result["fired_wall_s"] = fired_wall
    first, last = result["first_claim"], result["last_done"]
    result["fire_s"] = (last - first).total_seconds() if first and last else float("nan")
    result["due_to_first_claim_s"] = (first - committed).total_seconds() if first else float("nan")
    return result


async def measure(args: argparse.Namespace) -> list[Figure]:
    from tests.fakes.smtp_server import FakeSMTP

    async with (
        common.postgres() as admin_dsn,
        common.fresh_database(admin_dsn) as dsn,
        common.scripted_llm() as llm,
        FakeSMTP() as smtp,
    ):
        org_id, owners = await prepare(dsn, args.users)

        await add_due_events(dsn, org_id, owners, args.events, "raw")
        raw_s, claimed = await raw_claim_loop(dsn)
        assert claimed == args.events, claimed
        print(f"raw claim loop: {claimed} events in {raw_s:.2f} s ({claimed / raw_s:,.0f}/s)")

        one = await fire_with_engines(
            dsn, llm.ollama_base_url, smtp, org_id, owners, args, 1, "one"
        )
        describe("one engine", one, args.events)
        two: dict[str, Any] | None = None
        if args.processes > 1:
            two = await fire_with_engines(
                dsn, llm.ollama_base_url, smtp, org_id, owners, args, args.processes, "two"
            )
            describe(f"{args.processes} engines", two, args.events)
            print(
                f"note: the {args.processes} engines share one database: each receives the "
                "others' chat-event relay notifications (firings post no chat messages)"
            )
        agent: dict[str, Any] | None = None
        if args.agent_events > 0:
            asked = len(llm.requests)
            agent = await fire_with_engines(
                dsn,
                llm.ollama_base_url,
                smtp,
                org_id,
                owners,
                args,
                1,
                "agent",
                events=args.agent_events,
                role_code=args.agent_role,
            )
            agent["llm_requests"] = len(llm.requests) - asked
            describe(f"one engine, @@{args.agent_role} per firing", agent, args.agent_events)
            print(f"LLM requests: {agent['llm_requests']}; agent answers ok: {agent['agent_ok']}")

    engine_rate = args.events / one["fire_s"]
    raw_rate = args.events / raw_s
    ratio = engine_rate / raw_rate
    figures = [
        Figure(NAME, "raw claim loop", f"{raw_rate:,.0f} events/s ({raw_s:.2f} s)"),
        Figure(
            NAME,
            "engine: fired (run done, mail queued)",
            f"{engine_rate:,.0f} events/s ({one['fire_s']:.2f} s)",
            "all fired",
            one["done"] == args.events and one["other"] == 0,
        ),
        Figure(
            NAME,
            "engine: mailed (SMTP)",
            f"{one['mails']:,} in {one['mailed_s']:.1f} s "
            f"({one['mails'] / one['mailed_s']:,.0f}/s)",
            "all",
            one["mails"] == args.events,
        ),
    ]
    if two is not None:
        dup_runs = two["runs"] - two["events"]
        clean = (
            two["done"] == args.events
            and dup_runs == 0
            and two["mail_duplicates"] == 0
            and two["mails"] == args.events
        )
        figures.append(
            Figure(
                NAME,
                f"{args.processes} engines: duplicates",
                f"runs {dup_runs}, mails {two['mail_duplicates']} "
                f"({two['mails']:,} mails; fired at {args.events / two['fire_s']:,.0f}/s)",
                "none, all mailed",
                clean,
            )
        )
    if agent is not None:
        n = args.agent_events
        figures.append(
            Figure(
                NAME,
                f"engine, firings run @@{args.agent_role}: fired (agent answered, mail queued)",
                f"{n / agent['fire_s']:,.0f} events/s ({agent['fire_s']:.2f} s; "
                f"{agent['agent_ok']:,} agent answers, {agent['llm_requests']:,} LLM calls; "
                f"engine CPU {agent['cpu_ms_per_event']:.1f} ms/event, without an agent "
                f"{one['cpu_ms_per_event']:.1f})",
                "all fired, all answered",
                agent["done"] == n and agent["agent_ok"] == n,
            )
        )
    figures.append(Figure(NAME, "engine/raw fire rate", f"{ratio:.3f}"))
    return figures


def describe(label: str, result: dict[str, Any], events: int) -> None:
    print(
        f"{label}: {result['done']}/{events} fired ({result['other']} not done, "
        f"{result['runs'] - result['events']} duplicate runs) in {result['fire_s']:.2f} s "
        f"from the first claim ({result['due_to_first_claim_s']:.2f} s from due to first claim); "
        f"{result['mails']} mails ({result['mail_duplicates']} duplicates) after "
        f"{result['mailed_s']:.1f} s; engine RSS {[round(r) for r in result['rss_mb']]} MiB; "
        f"engine CPU {result['cpu_ms_per_event']:.2f} ms per event until all fired"
    )


def main(argv: Sequence[str] | None = None) -> list[Figure]:
    args = parse(argv)
    figures = common.run(lambda: measure(args))
    common.print_figures(figures)
    print(f"RESULT {NAME}: engine/raw fire rate = {figures[-1].value}")
    return figures


if __name__ == "__main__":
    main()
