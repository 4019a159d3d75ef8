"""The AI queue's claim statement against the queue's length (a diagnosis for bench/fleet.py).

A replica (AI_WORKER_ENABLED=false, so nothing is claimed) takes `N` `@@accountant`
questions; then 7 of the queued jobs are marked running (the fleet of capacities 1, 2, 4
full) and the claim statement of `AIQueueStorage.claim` is timed 30 times, each in a
transaction rolled back: with the fleet full (it claims nothing) and with one slot free
(it claims the next job). Next to it, the same statement with its one change proposed in
bench/README.md ("Fleet"): the oldest urgent ticket's id computed once instead of an
anti-join per queued job. `--plan` prints EXPLAIN (ANALYZE, BUFFERS) of the statement.

The statement is rebuilt from `engine.storage.ai_queue`'s pieces (`_LIVE`,
`_FREE_FOR_NEW`, `_claimable_chat`, `_urgent_ticket`, `_JOB_COLUMNS`) with the text of
`claim()` at the diagnosis ("as is"); `src/` has since taken the change, and grown a
`more_waiting` column: `--check` says whether the text `claim()` sends holds the change.

    PYTHONPATH=src:. python bench/fleet_claim_sql.py [--queued 10,300,1000] [--plan]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg  # noqa: E402

from bench import common  # noqa: E402
from bench.fleet import model_fleet, post_burst  # noqa: E402

ANTI_JOIN = "AND NOT EXISTS (SELECT 1 FROM ai_jobs t WHERE {urgent} AND t.id < j.id)"
ONCE = "AND j.id < coalesce((SELECT min(t.id) FROM ai_jobs t WHERE {urgent}), 9223372036854775807)"


def _urgent_ticket() -> str:
    from engine.storage import ai_queue as q

    return q._urgent_ticket("t")


def statement(once: bool) -> str:
    from engine.storage import ai_queue as q

    urgent = _urgent_ticket()
    ticket = (ONCE if once else ANTI_JOIN).format(urgent=urgent)
    return f"""WITH live AS ({q._LIVE}), {q._FREE_FOR_NEW},
        org_load AS (SELECT org_id, count(*) AS n FROM live GROUP BY org_id),
        user_load AS (SELECT org_id, user_id, count(*) AS n FROM live
                      GROUP BY org_id, user_id),
        next AS (
            SELECT j.id FROM ai_jobs j
            LEFT JOIN org_load o ON o.org_id = j.org_id
            LEFT JOIN user_load u ON u.org_id = j.org_id
                                 AND u.user_id IS NOT DISTINCT FROM j.user_id
            WHERE {q._claimable_chat("j")}
              AND ($6::bigint[] IS NULL
                   OR (j.status = 'pending' AND j.message_id = ANY($6::bigint[])))
              {ticket}
            ORDER BY coalesce(o.n, 0), coalesce(u.n, 0), j.id
            LIMIT 1)
        UPDATE ai_jobs SET status = 'running', owner = $4,
               backend = (SELECT name FROM free), attempts = attempts + 1,
               lease_until = now() + make_interval(secs => $5), started_at = now()
        WHERE id = (SELECT id FROM next) AND EXISTS (SELECT 1 FROM free)
        RETURNING {q._JOB_COLUMNS}"""


def _squeeze(text: str) -> str:
    return " ".join(text.split())


async def sent_by_claim() -> str:
    """The text `AIQueueStorage.claim` sends (captured from a fake connection)."""
    from engine.storage.ai_queue import AIQueueStorage

    sent: list[str] = []

    class Conn:
        async def execute(self, *_: Any) -> None:
            return None

        async def fetchrow(self, sql: str, *_: Any) -> dict[str, Any]:
            sent.append(sql)
            return {"id": None, "more_waiting": False, "slot_left": False}  # nothing claimed

    class Tx:
        async def __aenter__(self) -> Conn:
            return Conn()

        async def __aexit__(self, *_: object) -> None:
            return None

    class Scope:
        def transaction(self) -> Tx:
            return Tx()

    class Db:
        def system(self, _: str) -> Scope:
            return Scope()

    await AIQueueStorage(Db()).claim(  # type: ignore[arg-type]
        "o", backends=["a"], aging_seconds=1, lease_seconds=1
    )
    return sent[0]


async def measure(queued: int, plan: bool) -> None:
    async with (
        common.postgres() as admin,
        common.fresh_database(admin) as dsn,
        model_fleet(0.5) as fleet,
    ):
        backends = fleet.backends()
        async with (
            common.engine_process(
                dsn,
                backends[0]["base_url"],
                ai_worker_enabled="false",
                llm_backends=json.dumps(backends),
            ) as replica,
            common.client_for(replica, 2) as client,
            common.clients_for(replica, 8, lean=True) as posters,
        ):
            org = await common.create_org(client, members=20)
            chats = [await common.create_chat(client, u) for u in org.members]
            texts = [f"@@accountant #{i}#" for i in range(queued)]
            await post_burst(posters, org.members, chats, texts)
        conn = await asyncpg.connect(dsn)
        try:
            slots = [b["name"] for b in backends for _ in range(b["capacity"])]
            ids = await conn.fetch("SELECT id FROM ai_jobs ORDER BY id LIMIT $1", len(slots))
            for row, name in zip(ids, slots, strict=False):
                await conn.execute(
                    "UPDATE ai_jobs SET status = 'running', backend = $2, "
                    "lease_until = now() + interval '1 hour' WHERE id = $1",
                    row["id"],
                    name,
                )
            args: tuple[Any, ...] = ([b["name"] for b in backends], [], 120.0, "bench", 60.0, None)
            for free in (False, True):
                if free:  # the first running job's lease ran out: its slot is free
                    await conn.execute(
                        "UPDATE ai_jobs SET lease_until = now() - interval '1 second' "
                        "WHERE id = $1",
                        ids[0]["id"],
                    )
                for once in (False, True):
                    sql = statement(once)
                    times: list[float] = []
                    claimed: list[int] = []
                    for _ in range(30):
                        rows = await rolled_back(conn, sql, args, times)
                        claimed = [r["id"] for r in rows]
                    print(
                        f"{queued} queued, {'one slot free' if free else 'fleet full'}, "
                        f"{'min urgent id once' if once else 'as is'}: "
                        f"p50 {common.percentile(times, 50):.2f} ms "
                        f"min {min(times):.2f} ms (claims {claimed or 'nothing'})",
                        flush=True,
                    )
                    if plan and free:
                        explain = "EXPLAIN (ANALYZE, BUFFERS) " + sql
                        lines = await rolled_back(conn, explain, args, [])
                        print("\n".join(r[0] for r in lines))
        finally:
            await conn.close()


async def rolled_back(
    conn: asyncpg.Connection, sql: str, args: Sequence[Any], times: list[float]
) -> list[asyncpg.Record]:
    """Run `sql` in a transaction that is rolled back; its time (ms) appended to `times`."""
    transaction = conn.transaction()
    await transaction.start()
    try:
        started = time.perf_counter()
        rows = await conn.fetch(sql, *args)
        times.append((time.perf_counter() - started) * 1000)
        return list(rows)
    finally:
        await transaction.rollback()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queued", default="10,300,1000", help="queue lengths, in turn")
    parser.add_argument("--plan", action="store_true", help="EXPLAIN ANALYZE with a slot free")
    parser.add_argument("--check", action="store_true", help="only compare the statement text")
    args = parser.parse_args(argv)
    sent = common.run(sent_by_claim)
    urgent_once = _squeeze(ONCE.format(urgent=_urgent_ticket())) in _squeeze(sent)
    print(f"claim() computes the oldest urgent ticket once: {urgent_once}")
    if args.check:
        return
    for queued in (int(n) for n in args.queued.split(",") if n.strip()):
        common.run(lambda queued=queued: measure(queued, args.plan))  # type: ignore[misc]


if __name__ == "__main__":
    main()
