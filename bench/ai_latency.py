"""Benchmark 2, AI added latency and the engine's CPU per answer.

Engine: an `@@role` question posted over HTTP to a live engine, until the stored answer
arrives on the chat's event stream (post -> answer stored), one at a time. Three roles:
- `@@accountant` (simple agent): one model call;
- `@@lawyer` (chain): three model calls (analyse, draft, review);
- `@@chu` (multi_agent supervisor): three model calls (the supervisor asks `ask_accountant`,
  the accountant answers, the supervisor answers).
Baseline: as many direct LangChain calls (`ChatOllama.ainvoke`, one after another) from this
process to the same scripted LLM server, which answers at once. Samples alternate engine /
direct. The engine's CPU per answer is read from /proc/<pid>/stat around each engine sample
(the model's time is in another process, so it is the engine's own work); "whole run" is the
engine's CPU from the first measured sample to 50 ms after the last, per answer: it also
counts what an answer leaves to do after it was delivered (releasing its queue entry, the
claim pass that follows), which runs during the next direct calls.

Figures: engine-added latency = engine p50 - direct p50 (and p99), and CPU per answer.
Target: `@@accountant` added p50 <= 15 ms.

    PYTHONPATH=src:. python bench/ai_latency.py [--samples 200] [--roles accountant,lawyer,chu]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402
from bench.common import Figure, Stats  # noqa: E402

NAME = "2 AI latency"
TARGET_P50_MS = 15.0
ANSWER = "Ставка НДС — 20 %, срок уплаты — 28-е число."


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=200, help="pairs measured, per role")
    parser.add_argument("--warmup", type=int, default=10, help="pairs not measured, per role")
    parser.add_argument(
        "--roles",
        default="accountant,lawyer,chu",
        help=f"roles asked, of {', '.join(MODEL_CALLS)}; the first one is judged by the target",
    )
    return parser.parse_args(argv)


# Model calls per answer, by role (the role templates of migration 001).
MODEL_CALLS = {"accountant": 1, "hr": 1, "lawyer": 3, "chu": 3}
DELEGATED = "Бухгалтер: НДС 20 %."


async def measure(args: argparse.Namespace) -> list[Figure]:
    from langchain_core.messages import HumanMessage, SystemMessage
    from langchain_ollama import ChatOllama
    from tests.fakes.llm_server import Reply

    roles = [r.strip() for r in args.roles.split(",") if r.strip()]
    unknown = [r for r in roles if r not in MODEL_CALLS]
    if unknown:
        raise SystemExit(f"unknown roles: {unknown}")
    results: dict[str, tuple[Stats, Stats, float]] = {}
    windows: dict[str, float] = {}
    phases: dict[str, list[float]] = {
        "POST answered": [],
        "until LLM asked": [],
        "LLM asked->stored": [],
    }
    async with (
        common.postgres() as admin_dsn,
        common.fresh_database(admin_dsn) as dsn,
        common.scripted_llm() as llm,
        common.engine_process(dsn, llm.ollama_base_url, llm_max_concurrency=8) as engine,
        common.client_for(engine, 2) as client,
    ):
        llm.set_default(Reply.text(ANSWER))
        org = await common.create_org(client, members=2)
        alice, bob = org.members
        chat = await common.create_chat(client, alice, bob)
        direct_model = ChatOllama(model="qwen2.5:7b", base_url=llm.ollama_base_url, temperature=0.2)

        for role in roles:
            calls = MODEL_CALLS[role]
            prompt = (common.REPO / "src" / "engine" / "prompts" / f"{role}.md").read_text()

            async def direct(index: int, role: str = role, prompt: str = prompt) -> float:
                started = time.perf_counter()
                for _ in range(MODEL_CALLS[role]):
                    reply = await direct_model.ainvoke(
                        [SystemMessage(prompt), HumanMessage(f"Алиса: @@{role} вопрос {index}")]
                    )
                    assert reply.content == ANSWER, reply.content
                return (time.perf_counter() - started) * 1000.0

            async def through_engine(
                index: int, watcher: common.ChatWatcher, role: str = role, first: bool = False
            ) -> tuple[float, float]:
                if role == "chu":
                    llm.queue(
                        Reply.tool_call("ask_accountant", {"question": f"Какой НДС? {index}"}),
                        Reply.text(DELEGATED),
                        Reply.text(ANSWER),
                    )
                cpu_before = common.process_cpu_s(engine.pid)
                started = time.perf_counter()
                response = await client.post(
                    f"{common.API}/chats/{chat}/messages",
                    headers=alice.headers,
                    json={"content": f"@@{role} вопрос {index}"},
                )
                posted = time.perf_counter()
                response.raise_for_status()
                (ai_id,) = response.json()["ai_message_ids"]
                arrived, stored = await watcher.finished(ai_id, timeout=30)
                cpu_s = common.process_cpu_s(engine.pid) - cpu_before
                assert stored["ai_status"] == "done" and stored["content"] == ANSWER, stored
                if first and index >= args.warmup:
                    asked = llm.asked_at()[-1]
                    phases["POST answered"].append((posted - started) * 1000.0)
                    phases["until LLM asked"].append((asked - started) * 1000.0)
                    phases["LLM asked->stored"].append((arrived - asked) * 1000.0)
                return (arrived - started) * 1000.0, cpu_s

            direct_ms, engine_ms, cpu_total = Stats(), Stats(), 0.0
            requests_before = len(llm.requests)
            window_start = 0.0
            async with common.ChatWatcher(engine, bob, chat) as watcher:
                for index in range(args.warmup + args.samples):
                    if index == args.warmup:
                        window_start = common.process_cpu_s(engine.pid)
                    d = await direct(index)
                    e, cpu_s = await through_engine(
                        index, watcher, first=role == roles[0] and calls == 1
                    )
                    if index >= args.warmup:
                        direct_ms.latencies_ms.append(d)
                        engine_ms.latencies_ms.append(e)
                        cpu_total += cpu_s
                # the work an answer leaves behind (the job's release, the next claim pass)
                # runs while this process makes its direct calls, outside every sample
                await asyncio.sleep(0.05)
                window_cpu_s = common.process_cpu_s(engine.pid) - window_start
            served = len(llm.requests) - requests_before
            expected = (args.warmup + args.samples) * calls * 2
            print(f"@@{role}: LLM requests served {served} (expected {expected}, direct included)")
            per_sample = 1000.0 / max(args.samples, 1)
            results[role] = (direct_ms, engine_ms, cpu_total * per_sample)
            windows[role] = window_cpu_s * per_sample

    print(f"samples: {args.samples} pairs per role")
    for phase, values in phases.items():
        if values:
            print(
                f"@@{roles[0]} engine phase {phase}: p50 {common.percentile(values, 50):.2f} ms "
                f"p99 {common.percentile(values, 99):.2f} ms"
            )
    figures: list[Figure] = []
    target: Figure | None = None
    for role, (direct_ms, engine_ms, cpu_ms) in results.items():
        calls = MODEL_CALLS[role]
        label = f"@@{role} ({calls} model call{'s' if calls > 1 else ''})"
        added_p50 = engine_ms.p(50) - direct_ms.p(50)
        added_p99 = engine_ms.p(99) - direct_ms.p(99)
        figures += [
            Figure(
                NAME,
                f"{label}: direct LangChain call{'s' if calls > 1 else ''}",
                f"p50 {direct_ms.p(50):.2f} ms p99 {direct_ms.p(99):.2f} ms",
            ),
            Figure(
                NAME,
                f"{label}: engine post->answer stored",
                f"p50 {engine_ms.p(50):.2f} ms p99 {engine_ms.p(99):.2f} ms",
            ),
            Figure(NAME, f"{label}: engine CPU per answer", f"{cpu_ms:.2f} ms"),
            Figure(
                NAME,
                f"{label}: engine CPU per answer, whole run (direct calls' time included)",
                f"{windows[role]:.2f} ms",
            ),
            Figure(NAME, f"{label}: engine-added p99", f"{added_p99:.2f} ms"),
        ]
        added = Figure(NAME, f"{label}: engine-added p50", f"{added_p50:.2f} ms")
        if role == roles[0]:
            added.target, added.met = f"<= {TARGET_P50_MS:.0f} ms", added_p50 <= TARGET_P50_MS
            target = added
        else:
            figures.append(added)
    assert target is not None
    return [*figures, target]


def main(argv: Sequence[str] | None = None) -> list[Figure]:
    args = parse(argv)
    figures = common.run(lambda: measure(args))
    common.print_figures(figures)
    print(f"RESULT {NAME}: engine-added p50 = {figures[-1].value} ({figures[-1].verdict})")
    return figures


if __name__ == "__main__":
    main()
