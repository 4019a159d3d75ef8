"""Benchmark 5, read path.

A chat holding `--messages` (100,000) messages, interleaved with 100 other chats' (one
message in six) and after a quiet chat's 500 old ones, as chats share one installation. Engine:
`GET /api/v1/chats/{id}/messages?limit=50` over HTTP, one request at a time: the big
chat's newest page, a page deep in its history (`before_id` in the middle), and the quiet
chat's newest page. Baseline: the very SQL `MessageStorage.page` sends, with its
arguments, run with raw asyncpg on the same database. Requests alternate engine / raw.
Then under load: `--readers` (16) concurrent readers, each on its own connection, ask for
the big chat's newest page back to back for `--load-duration` seconds; the baseline runs
the same SQL from as many tasks through a pool as large as the engine's (10). p99 of each.
`EXPLAIN (ANALYZE, BUFFERS)` of each query is printed (custom and generic plan, as a
prepared statement may get either): they must use an index.

    PYTHONPATH=src:. python bench/read_path.py [--messages 100000] [--samples 300]
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg  # noqa: E402

from bench import common  # noqa: E402
from bench.common import Figure, Stats  # noqa: E402

NAME = "5 read"
FLOOR = [sys.executable, "-m", "bench.floor_app"]
PAGE = 50
QUIET = 500
BUSY_CHATS = 100


class CapturedSQL:
    """Stands in for the pool to learn the exact SQL and arguments a storage sends."""

    def __init__(self) -> None:
        self.query = ""
        self.args: tuple[Any, ...] = ()

    def tenant(self, org_id: UUID) -> CapturedSQL:
        return self

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        self.query, self.args = query, args
        return []


async def page_sql(org_id: UUID, chat_id: UUID, before_id: int | None) -> CapturedSQL:
    from engine.storage.messages import MessageStorage

    captured = CapturedSQL()
    await MessageStorage(captured).page(org_id, chat_id, limit=PAGE, before_id=before_id)  # type: ignore[arg-type]
    return captured


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000, help="messages in the chat")
    parser.add_argument("--samples", type=int, default=300, help="requests per case and side")
    parser.add_argument("--readers", type=int, default=16, help="concurrent readers, under load")
    parser.add_argument(
        "--load-duration", type=float, default=6.0, help="seconds under load, each side"
    )
    return parser.parse_args(argv)


async def fill(dsn: str, org_id: UUID, author: UUID, big: UUID, quiet: UUID, n: int) -> None:
    """`quiet` gets QUIET old messages first; then `big` gets `n` messages interleaved with
    BUSY_CHATS other chats' (one message in six), as chats of one installation are."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            """INSERT INTO messages (org_id, chat_id, author_id, kind, content)
               SELECT $1, $2, $3, 'user', 'Старое сообщение ' || g
               FROM generate_series(1, $4) AS g""",
            org_id,
            quiet,
            author,
            QUIET,
        )
        busy = await conn.fetch(
            """INSERT INTO chats (org_id, kind, title, created_by)
               SELECT $1, 'group', 'busy ' || g, $2 FROM generate_series(1, $3) AS g
               RETURNING id""",
            org_id,
            author,
            BUSY_CHATS,
        )
        await conn.execute(
            """INSERT INTO messages (org_id, chat_id, author_id, kind, content)
               SELECT $1, CASE WHEN g % 6 = 0 THEN ($3::uuid[])[1 + (g / 6) % $5] ELSE $2 END,
                      $4, 'user', 'Сообщение ' || g || ': обсуждаем отчёт за квартал и сроки.'
               FROM generate_series(1, $6) AS g""",
            org_id,
            big,
            [r["id"] for r in busy],
            author,
            BUSY_CHATS,
            n * 6 // 5,
        )
        await conn.execute("ANALYZE messages")
    finally:
        await conn.close()


async def explain(conn: asyncpg.Connection, captured: CapturedSQL, generic: bool) -> str:
    await conn.execute(f"SET plan_cache_mode = {'force_generic_plan' if generic else 'auto'}")
    await conn.execute(f"PREPARE page_q AS {captured.query}")
    try:
        args = ", ".join(_literal(a) for a in captured.args)
        rows = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE page_q({args})")
        return "\n".join(r[0] for r in rows)
    finally:
        await conn.execute("DEALLOCATE page_q")
        await conn.execute("RESET plan_cache_mode")


def index_bounded(plan: str) -> bool:
    """The plan reads the page through an index that delimits it: an index scan, no
    sequential scan, and no more than a few pages' worth of rows thrown away by a filter."""
    removed = [int(m) for m in re.findall(r"Rows Removed by Filter: (\d+)", plan)]
    return "Index" in plan and "Seq Scan" not in plan and max(removed, default=0) <= 10 * PAGE


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return str(value)
    return f"'{value}'"


async def measure(args: argparse.Namespace) -> list[Figure]:
    async with (
        common.postgres() as admin_dsn,
        common.fresh_database(admin_dsn) as dsn,
        common.scripted_llm() as llm,
        common.engine_process(dsn, llm.ollama_base_url, gc_probe=True) as engine,
        common.client_for(engine, 2) as setup,
        common.client_for(engine, 1, lean=True) as client,
        common.clients_for(engine, args.readers, lean=True) as readers,
        common.engine_process(dsn, llm.ollama_base_url, command=FLOOR) as floor,
        common.clients_for(floor, args.readers, lean=True) as floor_readers,
    ):
        org = await common.create_org(setup, members=2)
        alice, bob = org.members
        org_id = UUID(org.id)
        chat = await common.create_chat(setup, alice, bob, title="big")
        quiet = await common.create_chat(setup, alice, bob, title="quiet")
        started = time.perf_counter()
        await fill(dsn, org_id, UUID(alice.id), UUID(chat), UUID(quiet), args.messages)
        filled = args.messages * 6 // 5 + QUIET
        print(f"filled {filled} messages in {time.perf_counter() - started:.1f} s")

        conn = await asyncpg.connect(dsn)
        try:
            ids = await conn.fetchrow(
                "SELECT count(*) AS n, min(id) AS lo, max(id) AS hi FROM messages "
                "WHERE chat_id = $1",
                UUID(chat),
            )
            print(f"the big chat holds {ids['n']} messages")
            middle = (ids["lo"] + ids["hi"]) // 2
            cases = {
                "big chat, newest page": (chat, None),
                "big chat, deep page": (chat, middle),
                f"quiet chat ({QUIET} old msgs)": (quiet, None),
            }
            plans: dict[str, str] = {}
            index_used = True
            for label, (chat_id, before) in cases.items():
                captured = await page_sql(org_id, UUID(chat_id), before)
                for generic in (False, True):
                    plan = await explain(conn, captured, generic)
                    plans[f"{label}, {'generic' if generic else 'custom'} plan"] = plan
                    index_used &= index_bounded(plan)

            results: list[Figure] = []
            for label, (chat_id, before) in cases.items():
                captured = await page_sql(org_id, UUID(chat_id), before)
                query = f"/api/v1/chats/{chat_id}/messages?limit={PAGE}"
                if before is not None:
                    query += f"&before_id={before}"
                raw, eng = Stats(), Stats()
                for index in range(args.samples + 20):
                    t0 = time.perf_counter()
                    rows = await conn.fetch(captured.query, *captured.args)
                    t1 = time.perf_counter()
                    response = await client.get(query, headers=bob.headers)
                    t2 = time.perf_counter()
                    assert len(rows) == PAGE and response.status_code == 200, response.text
                    assert len(response.json()["items"]) == PAGE
                    if index >= 20:
                        raw.latencies_ms.append((t1 - t0) * 1000.0)
                        eng.latencies_ms.append((t2 - t1) * 1000.0)
                print(f"{label}: raw SQL   {raw.describe()}")
                print(f"{label}: engine GET {eng.describe()}")
                results += [
                    Figure(
                        NAME, f"{label}: raw SQL", f"p50 {raw.p(50):.2f} ms p99 {raw.p(99):.2f} ms"
                    ),
                    Figure(
                        NAME,
                        f"{label}: engine GET",
                        f"p50 {eng.p(50):.2f} ms p99 {eng.p(99):.2f} ms",
                    ),
                    Figure(NAME, f"{label}: engine/raw p50", f"{eng.p(50) / raw.p(50):.1f}x"),
                ]
            meters = Meters(
                engine=common.CpuMeter(engine.pid, await common.postmaster_pid(dsn)),
                floor=common.CpuMeter(floor.pid, await common.postmaster_pid(dsn)),
            )
            await client.post("/__bench/gc/reset")
            results += await under_load(
                dsn, org_id, UUID(chat), bob, Readers(readers, floor_readers), meters, args
            )
            pauses = (await client.get("/__bench/gc")).json()
            print(f"engine garbage collections during the reads under load: {pauses}")
            results.append(
                Figure(
                    NAME,
                    f"big chat, newest page, {args.readers} readers: engine GC pauses",
                    ", ".join(
                        f"gen{g} {pauses[f'gen{g}']['count']} x, max "
                        f"{pauses[f'gen{g}']['max_ms']:.1f} ms"
                        for g in (0, 1, 2)
                    ),
                )
            )
        finally:
            await conn.close()

    for label, plan in plans.items():
        print(f"\nEXPLAIN ({label}):\n{plan}")
    print()
    results.append(
        Figure(
            NAME,
            "page queries bounded by an index",
            "yes" if index_used else "NO (see EXPLAIN)",
            "index",
            index_used,
        )
    )
    return results


@dataclass
class Readers:
    engine: list[Any]
    floor: list[Any]


@dataclass
class Meters:
    engine: common.CpuMeter
    floor: common.CpuMeter


async def under_load(
    dsn: str,
    org_id: UUID,
    chat: UUID,
    reader: common.BenchUser,
    clients: Readers,
    meters: Meters,
    args: argparse.Namespace,
) -> list[Figure]:
    """The big chat's newest page, `--readers` at once: raw SQL through a pool, the floor
    app (`bench/floor_app.py`: the same query, JSON, HTTP), then the engine, in rounds that
    alternate; p50/p99 of each, engine/floor throughput and each server's CPU per page."""
    captured = await page_sql(org_id, chat, None)
    query = f"/api/v1/chats/{chat}/messages?limit={PAGE}"
    pool = await asyncpg.create_pool(dsn, min_size=10, max_size=10, reset=common.keep_session)
    assert pool is not None
    try:

        async def raw_read(worker: int) -> None:
            rows = await pool.fetch(captured.query, *captured.args)
            assert len(rows) == PAGE

        async def engine_read(worker: int) -> None:
            response = await clients.engine[worker].get(query, headers=reader.headers)
            if response.status_code != 200:
                raise RuntimeError(response.text)

        floor_headers = {**reader.headers, "x-org": str(org_id)}

        async def floor_read(worker: int) -> None:
            response = await clients.floor[worker].get(query, headers=floor_headers)
            if response.status_code != 200 or len(response.json()["items"]) != PAGE:
                raise RuntimeError(response.text)

        async def metered(
            operation: common.Operation, meter: common.CpuMeter, duration: float, cpu: list[float]
        ) -> Stats:
            before = meter.snapshot()
            stats = await common.timed_loop(operation, concurrency=n, duration=duration)
            cpu.append(meter.per_op_ms(before, meter.snapshot(), stats.count)["engine"])
            return stats

        n = args.readers
        await common.timed_loop(raw_read, concurrency=n, duration=0.5)
        await common.timed_loop(floor_read, concurrency=n, duration=0.5)
        await common.timed_loop(engine_read, concurrency=n, duration=0.5)
        raw, flo, eng = Stats(), Stats(), Stats()
        flo_cpu: list[float] = []
        eng_cpu: list[float] = []
        for _ in range(2):
            half = args.load_duration / 2
            raw.merge(await common.timed_loop(raw_read, concurrency=n, duration=half))
            flo.merge(await metered(floor_read, meters.floor, half, flo_cpu))
            eng.merge(await metered(engine_read, meters.engine, half, eng_cpu))
    finally:
        await pool.close()
    label = f"big chat, newest page, {n} readers"
    print(f"{label}: raw SQL   {raw.describe()}")
    print(f"{label}: floor GET {flo.describe()} cpu/page {common.median(flo_cpu):.2f} ms")
    print(f"{label}: engine GET {eng.describe()} cpu/page {common.median(eng_cpu):.2f} ms")
    return [
        Figure(
            NAME,
            f"{label}: raw SQL",
            f"{raw.rate:,.0f}/s p50 {raw.p(50):.2f} ms p99 {raw.p(99):.2f} ms",
        ),
        Figure(
            NAME,
            f"{label}: engine GET",
            f"{eng.rate:,.0f}/s p50 {eng.p(50):.2f} ms p99 {eng.p(99):.2f} ms",
            "no errors",
            eng.errors == 0,
        ),
        Figure(
            NAME,
            f"{label}: floor GET",
            f"{flo.rate:,.0f}/s p50 {flo.p(50):.2f} ms p99 {flo.p(99):.2f} ms",
            "no errors",
            flo.errors == 0,
        ),
        Figure(
            NAME,
            f"{label}: server CPU per page",
            f"engine {common.median(eng_cpu):.2f} ms, floor {common.median(flo_cpu):.2f} ms",
        ),
        Figure(
            NAME,
            f"{label}: engine/floor throughput",
            f"{eng.rate / flo.rate if flo.rate else 0.0:.3f}",
        ),
    ]


def main(argv: Sequence[str] | None = None) -> list[Figure]:
    args = parse(argv)
    figures = common.run(lambda: measure(args))
    common.print_figures(figures)
    print(f"RESULT {NAME}: {figures[2].name} = {figures[2].value}; index used: {figures[-1].value}")
    return figures


if __name__ == "__main__":
    main()
