"""Benchmark 2, AI added latency.

Engine: an `@@accountant` question posted over HTTP to a live engine, until the stored
answer arrives on the chat's event stream (post -> answer stored), one at a time.
Baseline: a direct LangChain call (`ChatOllama.ainvoke`) from this process to the same
scripted LLM server, which answers at once. Samples alternate engine / direct.

Figure: engine-added latency = engine p50 - direct p50 (and the same at p99).
Target: p50 <= 15 ms.

    PYTHONPATH=src:. python bench/ai_latency.py [--samples 200] [--role accountant]
"""

from __future__ import annotations

import argparse
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
    parser.add_argument("--samples", type=int, default=200, help="pairs measured")
    parser.add_argument("--warmup", type=int, default=10, help="pairs not measured")
    parser.add_argument("--role", default="accountant", help="AI role asked (simple agent)")
    return parser.parse_args(argv)


async def measure(args: argparse.Namespace) -> list[Figure]:
    from langchain_core.messages import HumanMessage, SystemMessage
    from langchain_ollama import ChatOllama
    from tests.fakes.llm_server import Reply

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
        prompt = (common.REPO / "src" / "engine" / "prompts" / f"{args.role}.md").read_text()
        direct_model = ChatOllama(model="qwen2.5:7b", base_url=llm.ollama_base_url, temperature=0.2)

        async def direct(index: int) -> float:
            started = time.perf_counter()
            reply = await direct_model.ainvoke(
                [SystemMessage(prompt), HumanMessage(f"Алиса: @@{args.role} вопрос {index}")]
            )
            assert reply.content == ANSWER, reply.content
            return (time.perf_counter() - started) * 1000.0

        phases: dict[str, list[float]] = {
            "POST answered": [],
            "until LLM asked": [],
            "LLM asked->stored": [],
        }

        async def through_engine(index: int, watcher: common.ChatWatcher) -> float:
            started = time.perf_counter()
            response = await client.post(
                f"{common.API}/chats/{chat}/messages",
                headers=alice.headers,
                json={"content": f"@@{args.role} вопрос {index}"},
            )
            posted = time.perf_counter()
            response.raise_for_status()
            (ai_id,) = response.json()["ai_message_ids"]
            arrived, stored = await watcher.finished(ai_id, timeout=30)
            assert stored["ai_status"] == "done" and stored["content"] == ANSWER, stored
            asked = llm.asked_at()[-1]
            if index >= args.warmup:
                phases["POST answered"].append((posted - started) * 1000.0)
                phases["until LLM asked"].append((asked - started) * 1000.0)
                phases["LLM asked->stored"].append((arrived - asked) * 1000.0)
            return (arrived - started) * 1000.0

        direct_ms, engine_ms = Stats(), Stats()
        async with common.ChatWatcher(engine, bob, chat) as watcher:
            for index in range(args.warmup + args.samples):
                d = await direct(index)
                e = await through_engine(index, watcher)
                if index >= args.warmup:
                    direct_ms.latencies_ms.append(d)
                    engine_ms.latencies_ms.append(e)
        requests = len(llm.requests)

    added_p50 = engine_ms.p(50) - direct_ms.p(50)
    added_p99 = engine_ms.p(99) - direct_ms.p(99)
    print(f"LLM requests served: {requests}; samples: {args.samples} pairs")
    for phase, values in phases.items():
        print(
            f"engine phase {phase}: p50 {common.percentile(values, 50):.2f} ms "
            f"p99 {common.percentile(values, 99):.2f} ms"
        )
    return [
        Figure(
            NAME,
            "direct LangChain call",
            f"p50 {direct_ms.p(50):.2f} ms p99 {direct_ms.p(99):.2f} ms",
        ),
        Figure(
            NAME,
            "engine post->answer stored",
            f"p50 {engine_ms.p(50):.2f} ms p99 {engine_ms.p(99):.2f} ms",
        ),
        Figure(NAME, "engine-added p99", f"{added_p99:.2f} ms"),
        Figure(
            NAME,
            "engine-added p50",
            f"{added_p50:.2f} ms",
            f"<= {TARGET_P50_MS:.0f} ms",
            added_p50 <= TARGET_P50_MS,
        ),
    ]


def main(argv: Sequence[str] | None = None) -> list[Figure]:
    args = parse(argv)
    figures = common.run(lambda: measure(args))
    common.print_figures(figures)
    print(f"RESULT {NAME}: engine-added p50 = {figures[-1].value} ({figures[-1].verdict})")
    return figures


if __name__ == "__main__":
    main()
