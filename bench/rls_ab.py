"""8. Row-level security end to end: the engine before and after, side by side.

Benchmarks 1 and 5 compare an engine with a raw baseline; run once per version, their
before/after figures swing by ±30% on a machine shared with other work. Here both versions
run at once, each a live Uvicorn process on its own database of one PostgreSQL, with the
same data, and the load alternates between them: write phases (`POST` a message, N
clients, a chat each) take turns round by round, read requests (`GET` the newest 50
messages of a chat) take turns request by request. Whatever else the machine does slows
both alike.

    BENCH_BEFORE_SRC=/tmp/bench-main/src PYTHONPATH=src:. python bench/rls_ab.py
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402

from bench import common  # noqa: E402
from bench.common import Figure, Stats  # noqa: E402


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default=os.environ.get("BENCH_BEFORE_SRC", ""))
    parser.add_argument("--clients", type=int, default=16, help="concurrent writers")
    parser.add_argument("--rounds", type=int, default=8, help="write phases per side")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per phase")
    parser.add_argument("--reads", type=int, default=600, help="read requests per side")
    args = parser.parse_args(argv)
    if not args.before:
        parser.error("--before (or BENCH_BEFORE_SRC): the src folder of the version before")
    return args


class Side:
    def __init__(self, name: str, engine: common.EngineProcess, meter: common.CpuMeter) -> None:
        self.name = name
        self.engine = engine
        self.meter = meter
        self.writes = Stats()
        self.write_cpu: list[dict[str, float]] = []
        self.read_ms: list[float] = []
        self.read_cpu: dict[str, float] = {}


Ops = tuple[Callable[[int], Awaitable[None]], Callable[[], Awaitable[None]]]


async def prepare(clients: list[httpx.AsyncClient], setup: httpx.AsyncClient) -> Ops:
    """An organization with a writer per client, each with a chat; the first chat holds
    60 messages to read."""
    org = await common.create_org(setup, members=len(clients))
    chats = [await common.create_chat(setup, user) for user in org.members]
    reader = org.members[0]
    for index in range(60):
        posted = await setup.post(
            f"{common.API}/chats/{chats[0]}/messages",
            headers=reader.headers,
            json={"content": f"Сообщение {index}: обсуждаем отчёт за квартал."},
        )
        posted.raise_for_status()

    async def post(worker: int) -> None:
        user = org.members[worker]
        response = await clients[worker].post(
            f"{common.API}/chats/{chats[worker]}/messages",
            headers=user.headers,
            json={"content": f"Сообщение от {user.username}: отчёт готов"},
        )
        if response.status_code != 201:
            raise RuntimeError(response.text)

    async def read() -> None:
        response = await clients[0].get(
            f"{common.API}/chats/{chats[0]}/messages",
            headers=reader.headers,
            params={"limit": 50},
        )
        if response.status_code != 200 or len(response.json()["items"]) != 50:
            raise RuntimeError(response.text)

    return post, read


async def measure(args: argparse.Namespace) -> list[Figure]:
    after_src = common.ENGINE_SRC
    async with contextlib.AsyncExitStack() as stack:
        admin_dsn = await stack.enter_async_context(common.postgres())
        llm = await stack.enter_async_context(common.scripted_llm())
        sides: list[Side] = []
        ops: dict[str, Ops] = {}
        for name, src in (("before", args.before), ("after", after_src)):
            dsn = await stack.enter_async_context(common.fresh_database(admin_dsn))
            common.ENGINE_SRC = src  # read by engine_env when the process starts
            try:
                engine = await stack.enter_async_context(
                    common.engine_process(dsn, llm.ollama_base_url, db_pool_max=10, db_pool_min=2)
                )
            finally:
                common.ENGINE_SRC = after_src
            side = Side(name, engine, common.CpuMeter(engine.pid, await common.postmaster_pid(dsn)))
            setup = await stack.enter_async_context(common.client_for(engine, 4))
            clients = await stack.enter_async_context(
                common.clients_for(engine, args.clients, lean=True)
            )
            ops[name] = await prepare(clients, setup)
            sides.append(side)
        for side in sides:  # warm-up
            post, read = ops[side.name]
            await common.timed_loop(post, concurrency=args.clients, duration=1.0)
            for _ in range(50):
                await read()
        for index in range(args.rounds):
            for side in sides if index % 2 == 0 else list(reversed(sides)):
                post, _ = ops[side.name]
                before = side.meter.snapshot()
                stats = await common.timed_loop(
                    post, concurrency=args.clients, duration=args.duration
                )
                side.write_cpu.append(
                    side.meter.per_op_ms(before, side.meter.snapshot(), stats.count)
                )
                side.writes.merge(stats)
                print(f"round {index + 1}: {side.name:6} writes {stats.describe()}")
        starts = {side.name: side.meter.snapshot() for side in sides}
        for index in range(args.reads):
            for side in sides if index % 2 == 0 else list(reversed(sides)):
                _, read = ops[side.name]
                started = time.perf_counter()
                await read()
                side.read_ms.append((time.perf_counter() - started) * 1000)
        for side in sides:
            side.read_cpu = side.meter.per_op_ms(
                starts[side.name], side.meter.snapshot(), args.reads
            )

    figures: list[Figure] = []
    before, after = sides

    def change(old: float, new: float) -> str:
        return f"{(new / old - 1) * 100:+.1f}%" if old else "-"

    write_cpu = {
        s.name: {k: common.median([c[k] for c in s.write_cpu]) for k in ("engine", "postgres")}
        for s in sides
    }
    for label, old, new, unit in (
        ("write: throughput", before.writes.rate, after.writes.rate, "/s"),
        ("write: p50", before.writes.p(50), after.writes.p(50), " ms"),
        (
            "write: engine CPU per POST",
            write_cpu["before"]["engine"],
            write_cpu["after"]["engine"],
            " ms",
        ),
        (
            "write: PostgreSQL CPU per POST",
            write_cpu["before"]["postgres"],
            write_cpu["after"]["postgres"],
            " ms",
        ),
        (
            "read: p50",
            common.median(before.read_ms),
            common.median(after.read_ms),
            " ms",
        ),
        # (PostgreSQL's CPU is not told apart here: both sides' reads interleave on one server)
        ("read: engine CPU per GET", before.read_cpu["engine"], after.read_cpu["engine"], " ms"),
    ):
        figures.append(
            Figure("8 RLS A/B", label, f"{old:,.2f}{unit} -> {new:,.2f}{unit} ({change(old, new)})")
        )
    return figures


def main(argv: Sequence[str] | None = None) -> list[Figure]:
    args = parse(argv)
    figures = common.run(lambda: measure(args))
    common.print_figures(figures)
    print(f"RESULT 8 RLS A/B: {figures[0].value}")
    return figures


if __name__ == "__main__":
    main()
