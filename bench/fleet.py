"""Benchmark 11, the AI queue over a fleet of model servers: throughput, slot hand-over,
fairness.

Three scripted model servers (`tests/fakes/llm_server.py`, all three in one child process
of their own) of capacities 1, 2 and 4 (7 slots) answer every chat request after a fixed
`--latency` (0.5 s). One engine replica serves HTTP with AI_WORKER_ENABLED=false; the
answers are made by 1, 2, then 4 `python -m engine worker` processes (started afresh for
each count), all with the same LLM_BACKENDS. Questions are `@@accountant` (one model call).

1. Throughput. `--questions` (300) posted at once (8 clients, 20 users' chats). Window: from
   the last question posted (the queue is full) to the last model request started (the
   queue is empty from then on). Answers stored in the window per second, against the ideal
   `sum(capacities) / latency` (14/s). Target: >= 0.9 of ideal.
2. Slot hand-over at saturation. Each server records when every chat request arrived and
   when its reply was sent. With capacity c, the i-th request arriving at a server needed
   the (i-c)-th reply there to have ended (a slot free); `arrived_i - ended_(i-c)` is the
   time the engine took to put the freed slot back to work. Counted only while work was
   pending (more questions posted than model requests started at the moment the slot
   freed), so waiting for a question is not counted, and waiting for a slot cannot be. The
   figure: p50 / p99 (and mean: throughput/ideal is about latency / (latency + mean gap)).
3. Fairness. A heavy organization posts `--fair-heavy` (150) questions at once; meanwhile a
   light organization posts one every `--fair-interval` (1 s) while the heavy org still has
   questions not started. Wait = POST sent -> answer stored (`ai_finished_at`), per org,
   with `--fair-workers` (2) workers; the light org's against the model latency.

All times are the machine's wall clock (`time.time()`, PostgreSQL's `now()`: one clock).

    PYTHONPATH=src:. python bench/fleet.py [--latency 0.5] [--questions 300] [--workers 1,2,4]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg  # noqa: E402
import httpx  # noqa: E402

from bench import common  # noqa: E402
from bench.common import Figure, percentile  # noqa: E402

NAME = "11 fleet"
CAPACITIES = {"fleet-small": 1, "fleet-mid": 2, "fleet-big": 4}
TARGET_RATIO = 0.9
ANSWER = "Ставка НДС — 20 %, срок уплаты — 28-е число."
WORKER_START_TIMEOUT = 90.0


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=float, default=0.5, help="seconds per model reply")
    parser.add_argument("--questions", type=int, default=300, help="questions per worker count")
    parser.add_argument("--workers", default="1,2,4", help="worker process counts, in turn")
    parser.add_argument("--users", type=int, default=20, help="posting users (a chat each)")
    parser.add_argument("--posters", type=int, default=8, help="concurrent posting clients")
    parser.add_argument("--fair-heavy", type=int, default=150, help="the heavy org's burst")
    parser.add_argument("--fair-interval", type=float, default=1.0, help="light org, seconds")
    parser.add_argument("--fair-workers", type=int, default=2, help="workers in the fair run")
    parser.add_argument("--skip-fair", action="store_true", help="no fairness run")
    parser.add_argument(
        "--probe-claims",
        action="store_true",
        help="run the workers as bench.fleet_worker with BENCH_CLAIM_PROBE=1 (claim-pass counts)",
    )
    parser.add_argument(
        "--no-sync-commit",
        action="store_true",
        help="experiment: the database's synchronous_commit off (no WAL flush waits)",
    )
    return parser.parse_args(argv)


# --- the scripted model servers, in a process of their own ---------------------------------


@dataclass(frozen=True)
class Served:
    """One chat request as a model server saw it (wall clock)."""

    server: str
    arrived: float
    ended: float
    text: str


def _fleet_child(conn: Any, names: list[str], latency: float) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        common.run(lambda: _serve_fleet(conn, names, latency))


async def _serve_fleet(conn: Any, names: list[str], latency: float) -> None:
    from tests.fakes.llm_server import Reply, ScriptedLLM

    served: list[Served] = []

    class TimedLLM(ScriptedLLM):
        """Records when each chat request arrived and when its reply was sent (the
        ScriptedLLM itself only counts them)."""

        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

        async def _chat(self, request: Any, protocol: str) -> Any:
            arrived = time.time()
            response = await super()._chat(request, protocol)
            record = self.requests[-1]
            if record.reply is None:
                return response

            async def timed(scope: Any, receive: Any, send: Any) -> None:
                try:
                    await response(scope, receive, send)
                finally:
                    served.append(Served(self.name, arrived, time.time(), record.last_user_text))

            return timed

    async with contextlib.AsyncExitStack() as stack:
        servers = {n: await stack.enter_async_context(TimedLLM(n)) for n in names}
        for server in servers.values():
            server.set_default(Reply.text(ANSWER, delay=latency))
        conn.send({n: s.port for n, s in servers.items()})
        while True:
            message = await asyncio.to_thread(conn.recv)
            if message is None:
                return
            if message == "served":
                taken, served[:] = list(served), []
                conn.send(taken)
            elif message == "peaks":
                conn.send({n: s.max_in_flight for n, s in servers.items()})
            elif message == "reset_peaks":
                for server in servers.values():
                    server.max_in_flight = server.in_flight
                conn.send(None)


class ModelFleet:
    def __init__(self, conn: Any, ports: dict[str, int]) -> None:
        self._conn, self.ports = conn, ports

    def _ask(self, message: str) -> Any:
        self._conn.send(message)
        return self._conn.recv()

    def served(self) -> list[Served]:
        """The requests answered since the last call."""
        return list(self._ask("served"))

    def peaks(self) -> dict[str, int]:
        """Most chat requests in flight at once, per server, since `reset_peaks`."""
        return dict(self._ask("peaks"))

    def reset_peaks(self) -> None:
        self._ask("reset_peaks")

    def backends(self) -> list[dict[str, Any]]:
        return [
            {
                "name": name,
                "provider": "ollama",
                "base_url": f"http://127.0.0.1:{self.ports[name]}",
                "model": "qwen2.5:7b",
                "capacity": capacity,
            }
            for name, capacity in CAPACITIES.items()
        ]


@contextlib.asynccontextmanager
async def model_fleet(latency: float) -> AsyncIterator[ModelFleet]:
    args = (list(CAPACITIES), latency)
    async with common.child_process(_fleet_child, args, "fleet") as (conn, _process):
        yield ModelFleet(conn, dict(conn.recv()))


# --- worker processes ---------------------------------------------------------------------


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""


@contextlib.asynccontextmanager
async def workers(
    env: dict[str, str], count: int, probe: bool = False
) -> AsyncIterator[list[Worker]]:
    """`count` `python -m engine worker` processes, each running (its start line printed);
    SIGTERM on the way out. `probe`: `bench.fleet_worker` with its claim probe instead,
    whose counts are printed once the workers stopped."""
    argv = [sys.executable, "-m", "engine", "worker"]
    if probe:
        argv = [sys.executable, "-m", "bench.fleet_worker"]
        env = {**env, "BENCH_CLAIM_PROBE": "1"}
    with tempfile.TemporaryDirectory(prefix="rugpt-workers-") as tmp:
        started: list[Worker] = []
        try:
            for index in range(count):
                workdir = Path(tmp) / f"w{index}"
                workdir.mkdir()
                log = workdir / "worker.log"
                with open(log, "wb") as out:
                    process = subprocess.Popen(
                        argv,
                        env=env,
                        cwd=workdir,
                        stdin=subprocess.DEVNULL,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        preexec_fn=common._die_with_parent if sys.platform == "linux" else None,
                    )
                started.append(Worker(process, log))
            deadline = time.monotonic() + WORKER_START_TIMEOUT
            for worker in started:
                while ": running (model servers:" not in worker.log.read_text(errors="replace"):
                    if worker.process.poll() is not None:
                        raise RuntimeError(f"worker exited:\n{worker.tail()}")
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"worker not running in time:\n{worker.tail()}")
                    await asyncio.sleep(0.05)
            yield started
        finally:
            for worker in started:
                if worker.process.poll() is None:
                    worker.process.send_signal(signal.SIGTERM)
            for worker in started:
                try:
                    await asyncio.to_thread(worker.process.wait, 30)
                except subprocess.TimeoutExpired:
                    worker.process.kill()
                    await asyncio.to_thread(worker.process.wait)
            for worker in started if probe else []:
                lines = worker.log.read_text(errors="replace").splitlines()
                print(*(f"worker {worker.process.pid} {x}" for x in lines if "probe:" in x))


# --- posting and reading back ---------------------------------------------------------------


@dataclass
class Question:
    text: str
    sent: float  # wall clock, just before the POST
    posted: float  # wall clock, the POST answered (the question is in the queue)
    ai_id: int = 0
    started: float = 0.0  # ai_started_at
    finished: float = 0.0  # ai_finished_at
    status: str = ""


async def post(client: httpx.AsyncClient, user: common.BenchUser, chat: str, text: str) -> Question:
    sent = time.time()
    response = await client.post(
        f"{common.API}/chats/{chat}/messages", headers=user.headers, json={"content": text}
    )
    response.raise_for_status()
    (ai_id,) = response.json()["ai_message_ids"]
    return Question(text, sent, time.time(), int(ai_id))


async def post_burst(
    clients: list[httpx.AsyncClient],
    users: list[common.BenchUser],
    chats: list[str],
    texts: list[str],
) -> list[Question]:
    pending = list(enumerate(texts))
    done: list[Question] = []

    async def poster(client: httpx.AsyncClient) -> None:
        while pending:
            index, text = pending.pop(0)
            user = index % len(users)
            done.append(await post(client, users[user], chats[user], text))

    await asyncio.gather(*(poster(c) for c in clients))
    return done


async def read_back(dsn: str, questions: list[Question], timeout: float) -> None:
    """Wait until every answer is stored (done or failed), then fill in its times."""
    by_id = {q.ai_id: q for q in questions}
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + timeout
        while True:
            left = await conn.fetchval(
                "SELECT count(*) FROM messages WHERE id = ANY($1::bigint[]) "
                "AND ai_status NOT IN ('done', 'failed')",
                list(by_id),
            )
            if left == 0:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{left} of {len(by_id)} answers not stored in {timeout} s")
            await asyncio.sleep(0.2)
        rows = await conn.fetch(
            "SELECT id, ai_status, content, extract(epoch FROM ai_started_at)::float8 AS s, "
            "extract(epoch FROM ai_finished_at)::float8 AS f "
            "FROM messages WHERE id = ANY($1::bigint[])",
            list(by_id),
        )
    finally:
        await conn.close()
    for row in rows:
        question = by_id[row["id"]]
        question.status = row["ai_status"]
        question.started, question.finished = row["s"] or 0.0, row["f"] or 0.0
        if question.status == "done" and row["content"] != ANSWER:
            question.status = "wrong answer"


# --- the figures ----------------------------------------------------------------------------


def handovers(served: list[Served], questions: list[Question]) -> list[tuple[Served, Served]]:
    """(the reply that freed a slot, the next request at that server) for the slots that
    freed while a question was waiting (see the module doc)."""
    posted = sorted(q.posted for q in questions)
    asked = sorted(s.arrived for s in served)

    def work_waiting(at: float) -> bool:
        return bisect.bisect_left(posted, at) > bisect.bisect_left(asked, at)

    pairs: list[tuple[Served, Served]] = []
    for name, capacity in CAPACITIES.items():
        mine = [s for s in served if s.server == name]
        by_arrival = sorted(mine, key=lambda s: s.arrived)
        by_end = sorted(mine, key=lambda s: s.ended)
        for index in range(capacity, len(by_arrival)):
            freed = by_end[index - capacity]
            if work_waiting(freed.ended):
                pairs.append((freed, by_arrival[index]))
    return pairs


def phases_ms(
    pairs: list[tuple[Served, Served]], questions: list[Question]
) -> dict[str, list[float]]:
    """Where a hand-over's time goes, by the answers' own timestamps: the reply ended ->
    its answer stored (`ai_finished_at`, the storing transaction's start); -> the next
    job on that server begun (`ai_started_at`; between them: the store's commit, the queue
    entry deleted, the claim); -> its model request arrived (the begin's commit, the agent
    building the prompt, the HTTP request)."""
    by_marker = {q.text.split()[-1]: q for q in questions}

    def question(s: Served) -> Question | None:
        return next((q for m, q in by_marker.items() if m in s.text), None)

    phases: dict[str, list[float]] = {"reply->stored": [], "->next begun": [], "->asked": []}
    for freed, following in pairs:
        done, nxt = question(freed), question(following)
        if done is None or nxt is None or not done.finished or not nxt.started:
            continue
        phases["reply->stored"].append((done.finished - freed.ended) * 1000)
        phases["->next begun"].append((nxt.started - done.finished) * 1000)
        phases["->asked"].append((following.arrived - nxt.started) * 1000)
    return phases


@dataclass
class Throughput:
    workers: int
    window_s: float
    answers: int
    rate: float
    ratio: float
    busy: float  # share of slot-time the servers spent on requests, in the window
    gaps_ms: list[float]
    phases_ms: dict[str, list[float]]
    failed: int
    peaks: dict[str, int]
    cpu_ms: dict[str, float]  # per answer: workers, replica, postgres

    def describe(self) -> str:
        return (
            f"{self.workers} worker(s): {self.answers} answers in {self.window_s:.2f} s = "
            f"{self.rate:.2f}/s, {self.ratio:.3f} of ideal; slots busy {self.busy:.3f}; "
            f"hand-over p50 {percentile(self.gaps_ms, 50):.1f} ms "
            f"p99 {percentile(self.gaps_ms, 99):.1f} ms mean {mean(self.gaps_ms):.1f} ms "
            f"(n={len(self.gaps_ms)}); peaks {self.peaks}; failed {self.failed}; CPU per "
            + ", ".join(f"{k} {v:.1f} ms" for k, v in self.cpu_ms.items())
            + "; hand-over phases p50 / mean: "
            + ", ".join(
                f"{k} {percentile(v, 50):.1f} / {mean(v):.1f} ms" for k, v in self.phases_ms.items()
            )
        )


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def throughput(
    count: int,
    questions: list[Question],
    served: list[Served],
    latency: float,
    peaks: dict[str, int],
    cpu_ms: dict[str, float],
) -> Throughput:
    capacity = sum(CAPACITIES.values())
    start = max(q.posted for q in questions)
    end = max(s.arrived for s in served)
    window = max(end - start, 1e-9)
    answers = sum(1 for q in questions if start <= q.finished <= end)
    busy = sum(max(0.0, min(s.ended, end) - max(s.arrived, start)) for s in served)
    rate = answers / window
    pairs = handovers(served, questions)
    return Throughput(
        workers=count,
        window_s=window,
        answers=answers,
        rate=rate,
        ratio=rate / (capacity / latency),
        busy=busy / (capacity * window),
        gaps_ms=[(n.arrived - f.ended) * 1000 for f, n in pairs],
        phases_ms=phases_ms(pairs, questions),
        failed=sum(1 for q in questions if q.status != "done"),
        peaks=peaks,
        cpu_ms=cpu_ms,
    )


# --- the runs -------------------------------------------------------------------------------


async def throughput_run(
    args: argparse.Namespace,
    count: int,
    env: dict[str, str],
    dsn: str,
    fleet: ModelFleet,
    posters: list[httpx.AsyncClient],
    org: common.BenchOrg,
    chats: list[str],
    meter: common.CpuMeter,
) -> Throughput:
    async with workers(env, count, args.probe_claims) as running:
        fleet.served()
        fleet.reset_peaks()
        pids = [w.process.pid for w in running]
        before = meter.snapshot()
        workers_before = sum(common.process_cpu_s(p) for p in pids)
        texts = [f"@@accountant вопрос #{count}-{n}#" for n in range(args.questions)]
        questions = await post_burst(posters, org.members, chats, texts)
        ideal_s = args.questions * args.latency / sum(CAPACITIES.values())
        await read_back(dsn, questions, timeout=ideal_s * 3 + 60)
        after = meter.snapshot()
        workers_cpu = sum(common.process_cpu_s(p) for p in pids) - workers_before
        served, peaks = fleet.served(), fleet.peaks()
    per = common.CpuMeter.per_op_ms(before, after, len(questions))
    cpu = {
        "workers": workers_cpu * 1000 / len(questions),
        "replica": per["engine"],
        "postgres": per["postgres"],
    }
    result = throughput(count, questions, served, args.latency, peaks, cpu)
    print(result.describe(), flush=True)
    return result


@dataclass
class Fairness:
    heavy: list[Question]
    light: list[Question]  # those posted while heavy ones still waited for a slot
    served: list[Served]
    workers: int

    def light_phases_ms(self) -> dict[str, list[float]]:
        """Per light question: POST answered -> the first slot freed after it anywhere
        (the unavoidable wait: every slot was busy) -> its model request arrived (the
        engine's part: the hand-over, and any heavy job claimed first)."""
        ends = sorted(s.ended for s in self.served)
        phases: dict[str, list[float]] = {"slot wait": [], "slot freed->asked": []}
        for q in self.light:
            asked = next((s.arrived for s in self.served if q.text.split()[-1] in s.text), None)
            if asked is None:
                continue
            index = bisect.bisect_left(ends, q.posted)
            freed = min(ends[index] if index < len(ends) else asked, asked)
            phases["slot wait"].append((freed - q.posted) * 1000)
            phases["slot freed->asked"].append((asked - freed) * 1000)
        return phases

    def overtaken(self) -> int:
        """Heavy answers begun after a light question was posted and before it began."""
        return sum(1 for q in self.light for h in self.heavy if q.posted < h.started < q.started)


async def fairness_run(
    args: argparse.Namespace,
    env: dict[str, str],
    dsn: str,
    fleet: ModelFleet,
    client: httpx.AsyncClient,
    posters: list[httpx.AsyncClient],
    light_client: httpx.AsyncClient,
) -> Fairness:
    heavy_org = await common.create_org(client, members=5)
    light_org = await common.create_org(client, members=1)
    heavy_chats = [await common.create_chat(client, u) for u in heavy_org.members]
    (light_user,) = light_org.members
    light_chat = await common.create_chat(client, light_user)
    async with workers(env, args.fair_workers, args.probe_claims):
        fleet.served()
        texts = [f"@@accountant тяжёлый {n}" for n in range(args.fair_heavy)]
        burst = asyncio.create_task(post_burst(posters, heavy_org.members, heavy_chats, texts))
        light: list[Question] = []
        conn = await asyncpg.connect(dsn)
        try:
            await asyncio.sleep(0.2)  # the burst is on its way: the fleet is saturated
            while True:
                if burst.done():
                    waiting = await conn.fetchval(
                        "SELECT count(*) FROM messages WHERE id = ANY($1::bigint[]) "
                        "AND ai_status = 'pending'",
                        [q.ai_id for q in burst.result()],
                    )
                    if waiting == 0:
                        break
                text = f"@@accountant лёгкий #{len(light)}#"
                light.append(await post(light_client, light_user, light_chat, text))
                await asyncio.sleep(args.fair_interval)
        finally:
            await conn.close()
        heavy = await burst
        ideal_s = args.fair_heavy * args.latency / sum(CAPACITIES.values())
        await read_back(dsn, heavy + light, timeout=ideal_s * 3 + 60)
        served = fleet.served()
    # a light question counts while heavy ones still waited for a slot after it was posted
    measured = [q for q in light if any(h.started > q.posted for h in heavy)]
    return Fairness(heavy, measured, served, args.fair_workers)


def waits_ms(questions: list[Question]) -> list[float]:
    return [(q.finished - q.sent) * 1000 for q in questions if q.status == "done"]


async def measure(args: argparse.Namespace) -> tuple[list[Throughput], Fairness | None]:
    counts = [int(c) for c in args.workers.split(",") if c.strip()]
    async with (
        common.postgres() as admin_dsn,
        common.fresh_database(admin_dsn) as dsn,
        model_fleet(args.latency) as fleet,
    ):
        if args.no_sync_commit:
            conn = await asyncpg.connect(dsn)
            try:
                name = urlsplit(dsn).path.lstrip("/")
                await conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
            finally:
                await conn.close()
        backends = json.dumps(fleet.backends())
        settings = {"llm_backends": backends, "llm_timeout_seconds": "60"}
        first_url = fleet.backends()[0]["base_url"]
        env = common.engine_env(dsn, first_url, **settings)
        meter = common.CpuMeter(None, await common.postmaster_pid(dsn))
        async with (
            common.engine_process(
                dsn,
                first_url,
                ai_worker_enabled="false",
                llm_backends=backends,
                llm_timeout_seconds="60",
            ) as replica,
            common.client_for(replica, 2) as client,
            common.clients_for(replica, args.posters, lean=True) as posters,
            common.client_for(replica, 1, lean=True) as light_client,
        ):
            meter.engine_pid = replica.pid
            org = await common.create_org(client, members=args.users)
            chats = [await common.create_chat(client, u) for u in org.members]
            results = [
                await throughput_run(args, count, env, dsn, fleet, posters, org, chats, meter)
                for count in counts
            ]
            fair = None
            if not args.skip_fair:
                fair = await fairness_run(args, env, dsn, fleet, client, posters, light_client)
    return results, fair


def figures_of(
    args: argparse.Namespace, results: list[Throughput], fair: Fairness | None
) -> list[Figure]:
    capacity = sum(CAPACITIES.values())
    ideal = capacity / args.latency
    figures: list[Figure] = []
    for r in results:
        label = f"{r.workers} worker{'s' if r.workers > 1 else ''}"
        over = {n: p for n, p in r.peaks.items() if p > CAPACITIES[n]}
        figures += [
            Figure(
                NAME,
                f"{label}: answers/s (ideal {ideal:.1f}/s)",
                f"{r.rate:.2f}/s = {r.ratio:.3f} of ideal ({r.answers} in {r.window_s:.1f} s, "
                f"slots busy {r.busy:.3f})",
                f">= {TARGET_RATIO}",
                r.ratio >= TARGET_RATIO,
            ),
            Figure(
                NAME,
                f"{label}: slot freed -> next request there",
                f"p50 {percentile(r.gaps_ms, 50):.1f} ms p99 {percentile(r.gaps_ms, 99):.1f} ms "
                f"mean {mean(r.gaps_ms):.1f} ms (n={len(r.gaps_ms)})",
            ),
            Figure(
                NAME,
                f"{label}: CPU per answer",
                ", ".join(f"{k} {v:.1f} ms" for k, v in r.cpu_ms.items()),
            ),
            Figure(
                NAME,
                f"{label}: failed / over capacity",
                f"{r.failed} / {over or 'none'}",
                "0 / none",
                r.failed == 0 and not over,
            ),
        ]
    if fair is not None:
        latency_ms = args.latency * 1000
        light, heavy = waits_ms(fair.light), waits_ms(fair.heavy)
        label = f"fair ({fair.workers} workers, heavy {len(fair.heavy)} at once)"
        figures += [
            Figure(
                NAME,
                f"{label}: heavy org wait",
                f"p50 {percentile(heavy, 50) / 1000:.2f} s "
                f"p99 {percentile(heavy, 99) / 1000:.2f} s",
            ),
            Figure(
                NAME,
                f"{label}: light org, POST answered -> model asked",
                "; ".join(
                    f"{k} p50 {percentile(v, 50):.0f} ms p99 {percentile(v, 99):.0f} ms"
                    for k, v in fair.light_phases_ms().items()
                )
                + f"; heavy answers begun ahead of a light one: {fair.overtaken()}",
            ),
            Figure(
                NAME,
                f"{label}: light org wait (model {latency_ms:.0f} ms)",
                f"p50 {percentile(light, 50):.0f} ms p99 {percentile(light, 99):.0f} ms "
                f"(n={len(light)}; p50 {percentile(light, 50) / latency_ms:.2f}x the model, "
                f"heavy p50 {percentile(heavy, 50) / latency_ms:.1f}x)",
                "p50 < 2x model",
                bool(light) and percentile(light, 50) < 2 * latency_ms,
            ),
        ]
    return figures


def main(argv: Sequence[str] | None = None) -> list[Figure]:
    args = parse(argv)
    load = os.getloadavg()
    results, fair = common.run(lambda: measure(args))
    print(f"load average {load[0]:.1f} before / {os.getloadavg()[0]:.1f} after")
    figures = figures_of(args, results, fair)
    common.print_figures(figures)
    worst = min(results, key=lambda r: r.ratio)
    print(
        f"RESULT {NAME}: throughput {worst.ratio:.3f} of ideal at worst "
        f"({worst.workers} worker(s); {'met' if worst.ratio >= TARGET_RATIO else 'MISSED'})"
    )
    return figures


if __name__ == "__main__":
    main()
