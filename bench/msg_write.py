"""Benchmark 1, message write path.

Engine: `POST /api/v1/chats/{id}/messages` (no mention) over HTTP to a live Uvicorn (one
worker process), N concurrent clients, each a different user posting to their own chat.
Baseline: a raw asyncpg `INSERT` of the same row into the same database, same concurrency,
through a pool as large as the engine's (DB_POOL_MAX).

Rounds alternate baseline and engine so drift on a shared machine hits both alike.
Figure: engine msgs/s / raw inserts/s (target >= 0.30), plus p50/p99 of each.

    PYTHONPATH=src:. python bench/msg_write.py [--clients 16] [--duration 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from uuid import UUID

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg  # noqa: E402

from bench import common  # noqa: E402
from bench.common import Figure, Stats  # noqa: E402

NAME = "1 write"
TARGET = 0.30
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
    parser.add_argument("--rounds", type=int, default=3, help="baseline+engine rounds")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds, each side")
    parser.add_argument("--pool", type=int, default=10, help="DB_POOL_MAX, also the raw pool")
    parser.add_argument("--shared-chat", action="store_true", help="every client posts to one chat")
    parser.add_argument(
        "--orgs",
        type=int,
        default=1,
        help="organizations the clients belong to, round-robin (pooled connections then "
        "switch tenant context; not with --shared-chat)",
    )
    parser.add_argument(
        "--httpx-transport",
        action="store_true",
        help="load clients use httpx's default transport instead of bench.common.LeanTransport",
    )
    return parser.parse_args(argv)


async def measure(args: argparse.Namespace) -> list[Figure]:
    async with (
        common.postgres() as admin_dsn,
        common.fresh_database(admin_dsn) as dsn,
        common.scripted_llm() as llm,
        common.engine_process(
            dsn,
            llm.ollama_base_url,
            lag_probe=True,
            db_pool_max=args.pool,
            db_pool_min=min(2, args.pool),
        ) as engine,
        common.client_for(engine, 4) as client,
        common.clients_for(engine, args.clients, lean=not args.httpx_transport) as clients,
    ):
        if args.shared_chat and args.orgs > 1:
            raise SystemExit("--shared-chat needs --orgs 1")
        orgs = [
            await common.create_org(client, members=-(-args.clients // args.orgs))
            for _ in range(args.orgs)
        ]
        members = [orgs[i % args.orgs].members[i // args.orgs] for i in range(args.clients)]
        org_ids = [UUID(orgs[i % args.orgs].id) for i in range(args.clients)]
        if args.shared_chat:
            shared = await common.create_chat(client, members[0], *members[1:])
            chats = [shared] * args.clients
        else:
            chats = [await common.create_chat(client, u) for u in members]
        rows = [(UUID(chats[i]), UUID(members[i].id)) for i in range(args.clients)]

        async def post(worker: int) -> None:
            user = members[worker]
            response = await clients[worker].post(
                f"{common.API}/chats/{chats[worker]}/messages",
                headers=user.headers,
                json={"content": f"Сообщение от {user.username}: отчёт готов"},
            )
            if response.status_code != 201:
                raise RuntimeError(response.text)

        # The baseline is the cheapest raw path: no session reset query on release.
        pool = await asyncpg.create_pool(
            dsn, min_size=args.pool, max_size=args.pool, reset=common.keep_session
        )
        assert pool is not None
        try:

            async def insert(worker: int) -> None:
                chat_id, author_id = rows[worker]
                await pool.fetchval(
                    RAW_INSERT,
                    org_ids[worker],
                    chat_id,
                    author_id,
                    f"Сообщение от {members[worker].username}: отчёт готов",
                )

            meter = common.CpuMeter(engine.pid, await common.postmaster_pid(dsn))

            async def phase(operation: common.Operation) -> tuple[Stats, dict[str, float]]:
                before = meter.snapshot()
                stats = await common.timed_loop(
                    operation, concurrency=args.clients, duration=args.duration
                )
                return stats, meter.per_op_ms(before, meter.snapshot(), stats.count)

            await common.timed_loop(insert, concurrency=args.clients, duration=args.warmup)
            await common.timed_loop(post, concurrency=args.clients, duration=args.warmup)
            raw, eng = Stats(), Stats()
            ratios: list[float] = []
            raw_cpu: list[dict[str, float]] = []
            eng_cpu: list[dict[str, float]] = []
            for index in range(args.rounds):
                r, r_cpu = await phase(insert)
                await client.post("/__bench/lag/reset")
                e, e_cpu = await phase(post)
                lag = (await client.get("/__bench/lag")).json()
                ratios.append(e.rate / r.rate if r.rate else 0.0)
                print(f"round {index + 1}: raw    {r.describe()} cpu/op {fmt_cpu(r_cpu)}")
                print(f"round {index + 1}: engine {e.describe()} cpu/op {fmt_cpu(e_cpu)}")
                print(f"round {index + 1}: engine loop lag {fmt_lag(lag)}")
                raw.merge(r)
                eng.merge(e)
                raw_cpu.append(r_cpu)
                eng_cpu.append(e_cpu)
        finally:
            await pool.close()

    ratio = eng.rate / raw.rate if raw.rate else 0.0
    chats_label = "one shared chat" if args.shared_chat else "a chat each"
    print(
        f"clients={args.clients} ({chats_label}), orgs={args.orgs}, pool={args.pool}, "
        f"per-round ratios={[round(x, 3) for x in ratios]}"
    )
    print(f"CPU per op, raw: {fmt_cpu(mean_cpu(raw_cpu))}")
    print(f"CPU per op, engine: {fmt_cpu(mean_cpu(eng_cpu))}")
    engine_cpu = mean_cpu(eng_cpu)
    return [
        Figure(NAME, "raw INSERT", fmt_rate(raw)),
        Figure(
            NAME,
            "engine POST",
            fmt_rate(eng),
            "no errors",
            eng.errors == 0,
        ),
        Figure(
            NAME,
            "CPU per engine POST",
            f"engine {engine_cpu['engine']:.2f} ms, postgres {engine_cpu['postgres']:.2f} ms",
        ),
        Figure(NAME, "engine/raw throughput", f"{ratio:.3f}", f">= {TARGET:.2f}", ratio >= TARGET),
    ]


def main(argv: Sequence[str] | None = None) -> list[Figure]:
    args = parse(argv)
    figures = common.run(lambda: measure(args))
    common.print_figures(figures)
    print(f"RESULT {NAME}: engine/raw throughput = {figures[-1].value} ({figures[-1].verdict})")
    return figures


if __name__ == "__main__":
    main()
