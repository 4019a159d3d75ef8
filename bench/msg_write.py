"""Benchmark 1, message write path.

Engine: `POST /api/v1/chats/{id}/messages` (no mention) over HTTP to a live Uvicorn (one
worker process), N concurrent clients, each a different user; two cases: each posting to
their own chat, and all posting into one group chat (a busy team channel: every insert
also updates that one `chats` row).

Baselines, same concurrency, same load generator:
- floor (`bench/floor_app.py`): a bare Starlette app with the engine's pool and Uvicorn
  settings doing HTTP + one `INSERT` per POST: what any HTTP service pays. The figure.
- raw: an asyncpg `INSERT` of the same row through a pool as large as the engine's
  (DB_POOL_MAX), no HTTP: kept for reference (no HTTP server can approach it).

Rounds alternate raw, floor and the engine so drift on a shared machine hits all alike.
Figures: engine/floor msgs/s (own chats and one shared chat), engine/raw, p50/p99, CPU per
op, and the database work per op of each side (transactions and tuples, pg_stat_database,
in a separate pass: a backend sends its counters up to 10 s after it goes idle).

    PYTHONPATH=src:. python bench/msg_write.py [--clients 16] [--duration 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from uuid import UUID

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg  # noqa: E402

from bench import common  # noqa: E402
from bench.common import Figure, Stats  # noqa: E402

NAME = "1 write"
TARGET = 0.30  # engine/raw: kept for reference
STATS_FLUSH_S = 10.5  # PostgreSQL's PGSTAT_IDLE_INTERVAL (10 s) and a margin
DB_WORK = (
    "SELECT xact_commit + xact_rollback, tup_inserted, tup_updated, tup_fetched, tup_returned "
    "FROM pg_stat_database WHERE datname = current_database()"
)
RAW_INSERT = (
    "INSERT INTO messages (org_id, chat_id, author_id, kind, content) "
    "VALUES ($1, $2, $3, 'user', $4) RETURNING id"
)


def fmt_cpu(cpu: dict[str, float]) -> str:
    return " ".join(f"{k} {v:.2f} ms" for k, v in cpu.items())


def fmt_lag(lag: dict[str, float]) -> str:
    return f"p50 {lag['p50_ms']:.2f} ms p99 {lag['p99_ms']:.2f} ms max {lag['max_ms']:.2f} ms"


def fmt_rate(stats: Stats) -> str:
    return f"{stats.rate:,.0f}/s p50 {stats.p(50):.2f} ms p99 {stats.p(99):.2f} ms"


def mean_cpu(samples: list[dict[str, float]]) -> dict[str, float]:
    return {k: sum(s[k] for s in samples) / len(samples) for k in samples[0]}


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per phase")
    parser.add_argument("--rounds", type=int, default=3, help="raw+floor+engine rounds")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds, each side")
    parser.add_argument("--pool", type=int, default=10, help="DB_POOL_MAX, also the raw pool")
    parser.add_argument(
        "--db-work-ops",
        type=int,
        default=400,
        help="operations per side in the database-work pass (0: skip it; it waits "
        f"{STATS_FLUSH_S} s per side for PostgreSQL's counters)",
    )
    parser.add_argument(
        "--orgs",
        type=int,
        default=1,
        help="organizations the clients belong to, round-robin (pooled connections then "
        "switch tenant context; with more than one the shared-chat case is skipped)",
    )
    parser.add_argument(
        "--httpx-transport",
        action="store_true",
        help="load clients use httpx's default transport instead of bench.common.LeanTransport",
    )
    return parser.parse_args(argv)


FLOOR = [sys.executable, "-m", "bench.floor_app"]


async def measure(args: argparse.Namespace) -> list[Figure]:
    pool_settings = {"db_pool_max": args.pool, "db_pool_min": min(2, args.pool)}
    lean = not args.httpx_transport
    async with (
        common.postgres() as admin_dsn,
        common.fresh_database(admin_dsn) as dsn,
        common.scripted_llm() as llm,
        common.engine_process(dsn, llm.ollama_base_url, lag_probe=True, **pool_settings) as engine,
        common.client_for(engine, 4) as client,
        common.clients_for(engine, args.clients, lean=lean) as clients,
        common.engine_process(dsn, llm.ollama_base_url, command=FLOOR, **pool_settings) as floor,
        common.clients_for(floor, args.clients, lean=lean) as floor_clients,
    ):
        orgs = [
            await common.create_org(client, members=-(-args.clients // args.orgs))
            for _ in range(args.orgs)
        ]
        members = [orgs[i % args.orgs].members[i // args.orgs] for i in range(args.clients)]
        org_ids = [UUID(orgs[i % args.orgs].id) for i in range(args.clients)]
        own = [await common.create_chat(client, u) for u in members]
        cases: dict[str, list[str]] = {"own chats": own}
        if args.orgs == 1:
            shared = await common.create_chat(client, members[0], *members[1:], title="team")
            cases["one shared chat"] = [shared] * args.clients

        def content(worker: int) -> str:
            return f"Сообщение от {members[worker].username}: отчёт готов"

        def engine_post(chats: list[str]) -> common.Operation:
            async def post(worker: int) -> None:
                response = await clients[worker].post(
                    f"{common.API}/chats/{chats[worker]}/messages",
                    headers=members[worker].headers,
                    json={"content": content(worker)},
                )
                if response.status_code != 201:
                    raise RuntimeError(response.text)

            return post

        def floor_post(chats: list[str]) -> common.Operation:
            async def post(worker: int) -> None:
                response = await floor_clients[worker].post(
                    f"{common.API}/chats/{chats[worker]}/messages",
                    headers={
                        **members[worker].headers,
                        "x-org": str(org_ids[worker]),
                        "x-author": members[worker].id,
                    },
                    json={"content": content(worker)},
                )
                if response.status_code != 201:
                    raise RuntimeError(response.text)

            return post

        # The raw baseline is the cheapest raw path: no session reset query on release.
        pool = await asyncpg.create_pool(
            dsn, min_size=args.pool, max_size=args.pool, reset=common.keep_session
        )
        assert pool is not None
        try:

            async def insert(worker: int) -> None:
                await pool.fetchval(
                    RAW_INSERT,
                    org_ids[worker],
                    UUID(own[worker]),
                    UUID(members[worker].id),
                    content(worker),
                )

            sides: dict[str, common.Operation] = {"raw INSERT": insert}
            for case, chats in cases.items():
                sides[f"floor POST, {case}"] = floor_post(chats)
                sides[f"engine POST, {case}"] = engine_post(chats)
            meter = common.CpuMeter(engine.pid, await common.postmaster_pid(dsn))
            floor_meter = common.CpuMeter(floor.pid, meter.postmaster)

            async def phase(name: str) -> tuple[Stats, dict[str, float]]:
                side_meter = floor_meter if name.startswith("floor") else meter
                before = side_meter.snapshot()
                stats = await common.timed_loop(
                    sides[name], concurrency=args.clients, duration=args.duration
                )
                return stats, side_meter.per_op_ms(before, side_meter.snapshot(), stats.count)

            for operation in sides.values():
                await common.timed_loop(operation, concurrency=args.clients, duration=args.warmup)
            stats = {name: Stats() for name in sides}
            cpu: dict[str, list[dict[str, float]]] = {name: [] for name in sides}
            for index in range(args.rounds):
                for name in sides:
                    if name.startswith("engine"):
                        await client.post("/__bench/lag/reset")
                    s, c = await phase(name)
                    line = f"round {index + 1}: {name:32} {s.describe()} cpu/op {fmt_cpu(c)}"
                    if name.startswith("engine"):
                        lag = (await client.get("/__bench/lag")).json()
                        line += f" loop lag {fmt_lag(lag)}"
                    print(line, flush=True)
                    stats[name].merge(s)
                    cpu[name].append(c)
            db_work = await database_work(dsn, sides, args) if args.db_work_ops > 0 else {}
        finally:
            await pool.close()

    print(
        f"clients={args.clients}, orgs={args.orgs}, pool={args.pool}; "
        "the engine and the floor ran side by side on one database (each idle while the "
        "other is measured)"
    )
    for name in sides:
        print(f"CPU per op, {name}: {fmt_cpu(mean_cpu(cpu[name]))}")
    raw = stats["raw INSERT"]
    figures = [Figure(NAME, "raw INSERT", fmt_rate(raw))]
    for case in cases:
        floor_s, eng = stats[f"floor POST, {case}"], stats[f"engine POST, {case}"]
        eng_cpu, floor_cpu = (
            mean_cpu(cpu[f"engine POST, {case}"]),
            mean_cpu(cpu[f"floor POST, {case}"]),
        )
        figures += [
            Figure(
                NAME, f"floor POST, {case}", fmt_rate(floor_s), "no errors", floor_s.errors == 0
            ),
            Figure(NAME, f"engine POST, {case}", fmt_rate(eng), "no errors", eng.errors == 0),
            Figure(
                NAME,
                f"CPU per POST, {case}",
                f"engine {eng_cpu['engine']:.2f} ms (floor {floor_cpu['engine']:.2f}), "
                f"postgres {eng_cpu['postgres']:.2f} ms (floor {floor_cpu['postgres']:.2f})",
            ),
            Figure(
                NAME,
                f"engine/floor throughput, {case}",
                f"{eng.rate / floor_s.rate if floor_s.rate else 0.0:.3f}",
            ),
        ]
    for name, work in db_work.items():
        figures.append(Figure(NAME, f"database work per op, {name}", work))
    own_eng = stats["engine POST, own chats"]
    ratio = own_eng.rate / raw.rate if raw.rate else 0.0
    figures.append(
        Figure(
            NAME,
            "engine/raw throughput (reference)",
            f"{ratio:.3f}",
            f">= {TARGET:.2f}",
            ratio >= TARGET,
        )
    )
    return figures


async def database_work(
    dsn: str, sides: dict[str, common.Operation], args: argparse.Namespace
) -> dict[str, str]:
    """Transactions and tuples per operation of each side, from pg_stat_database.

    A backend sends its counters when a transaction ends, at most once a second; an idle one
    that has sent within the last second sends the rest 10 s later. So each side runs
    `--db-work-ops` operations, then everything waits STATS_FLUSH_S before the counters are
    read. The background work of the idle engine and floor (the scheduler's polls, ...)
    over an equally long quiet window is subtracted.
    """
    conn = await asyncpg.connect(dsn)

    async def counters() -> tuple[int, ...]:
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        row = await conn.fetchrow(DB_WORK)
        assert row is not None
        return tuple(int(v) for v in row)

    async def window(operation: common.Operation | None) -> tuple[tuple[int, ...], float]:
        started = time.perf_counter()
        before = await counters()
        if operation is not None:
            per_worker = -(-args.db_work_ops // args.clients)

            async def worker(index: int) -> None:
                for _ in range(per_worker):
                    await operation(index)

            await asyncio.gather(*(worker(i) for i in range(args.clients)))
        await asyncio.sleep(STATS_FLUSH_S)
        after = await counters()
        return tuple(a - b for a, b in zip(after, before, strict=True)), (
            time.perf_counter() - started
        )

    try:
        await asyncio.sleep(STATS_FLUSH_S)  # the timed rounds' counters arrive
        quiet, quiet_s = await window(None)
        print(
            f"quiet window ({quiet_s:.1f} s): xacts, inserted, updated, fetched, returned = {quiet}"
        )
        found: dict[str, str] = {}
        for name, operation in sides.items():
            delta, took = await window(operation)
            ops = -(-args.db_work_ops // args.clients) * args.clients
            per_op = [(d - q * took / quiet_s) / ops for d, q in zip(delta, quiet, strict=True)]
            found[name] = (
                f"{per_op[0]:.2f} xacts; tuples {per_op[1]:.2f} ins, {per_op[2]:.2f} upd, "
                f"{per_op[3]:.1f} fetched, {per_op[4]:.1f} returned"
            )
            print(f"database work per op, {name}: {found[name]}", flush=True)
        return found
    finally:
        await conn.close()


def main(argv: Sequence[str] | None = None) -> list[Figure]:
    args = parse(argv)
    figures = common.run(lambda: measure(args))
    common.print_figures(figures)
    floor_ratio = next(f for f in figures if f.name.startswith("engine/floor"))
    print(
        f"RESULT {NAME}: engine/floor throughput (own chats) = {floor_ratio.value}; "
        f"engine/raw = {figures[-1].value}"
    )
    return figures


if __name__ == "__main__":
    main()
