"""Where the engine's CPU per model call goes: the client stack, layer by layer.

The scripted LLM (in its own process) answers at once with the answer `ai_latency.py` uses;
this process calls it N times per variant, alternating, and reports its own CPU per call
(`time.process_time`, so the model's process is not counted):

- `httpx stream`: plain `httpx.AsyncClient.stream` POST to `/api/chat`, lines parsed with
  `json.loads` (what any client must do);
- `ollama stream`: `ollama.AsyncClient.chat(stream=True)` (the library under ChatOllama);
- `ChatOllama.ainvoke` and `ChatOllama.astream` (LangChain), and `ainvoke(stream=False)`
  (the answer in one JSON body: what a chain step whose tokens nobody watches needs);
- `LLMGate.complete`: the engine's gate, without and with a token callback;
- `..., KeepAliveTransport`: the same over the engine's own HTTP transport for the model
  (`llm/transport.py`, what `llm/factory.py` gives ChatOllama for an `http://` server).

    PYTHONPATH=src:. python bench/llm_client.py [--calls 300] [--profile gate]

`--profile <variant>` prints a cProfile of that variant (cumulative, top 40).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import httpx  # noqa: E402

from bench import common  # noqa: E402

ANSWER = "Ставка НДС — 20 %, срок уплаты — 28-е число."
MODEL = "qwen2.5:7b"


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300, help="calls per variant")
    parser.add_argument("--profile", default="", help="variant to profile with cProfile")
    return parser.parse_args(argv)


async def measure(args: argparse.Namespace) -> dict[str, float]:
    from langchain_core.messages import HumanMessage, SystemMessage
    from langchain_ollama import ChatOllama
    from ollama import AsyncClient
    from tests.fakes.llm_server import Reply

    from engine.llm.gate import LLMGate
    from engine.llm.transport import KeepAliveTransport

    async with common.scripted_llm() as llm:
        llm.set_default(Reply.text(ANSWER))
        base = llm.ollama_base_url
        messages = [SystemMessage("Ты юрист. " * 200), HumanMessage("Какой НДС?")]
        payload = {
            "model": MODEL,
            "stream": True,
            "messages": [
                {"role": "system", "content": str(messages[0].content)},
                {"role": "user", "content": str(messages[1].content)},
            ],
        }
        model = ChatOllama(model=MODEL, base_url=base, temperature=0.2, client_kwargs={})
        gate = LLMGate(model, max_concurrency=8, timeout=60)
        raw = httpx.AsyncClient(base_url=base, timeout=60)
        # the engine's own model client (llm/factory.py): KeepAliveTransport under httpx
        lean_model = ChatOllama(
            model=MODEL,
            base_url=base,
            temperature=0.2,
            client_kwargs={"timeout": 60},
            async_client_kwargs={"transport": KeepAliveTransport()},
        )
        lean_gate = LLMGate(lean_model, max_concurrency=8, timeout=60)
        lean_raw = httpx.AsyncClient(base_url=base, timeout=60, transport=KeepAliveTransport())
        ollama = AsyncClient(host=base)

        async def httpx_stream(client: httpx.AsyncClient = raw) -> None:
            text = []
            async with client.stream("POST", "/api/chat", json=payload) as response:
                async for line in response.aiter_lines():
                    if line:
                        text.append(json.loads(line)["message"]["content"])
            assert "".join(text) == ANSWER

        async def lean_httpx_stream() -> None:
            await httpx_stream(lean_raw)

        async def ollama_stream() -> None:
            text = [
                part["message"]["content"]
                async for part in await ollama.chat(
                    model=MODEL, messages=payload["messages"], stream=True
                )
            ]
            assert "".join(text) == ANSWER

        async def lc_ainvoke() -> None:
            assert (await model.ainvoke(messages)).content == ANSWER

        async def lc_astream() -> None:
            text = [str(c.content) async for c in model.astream(messages)]
            assert "".join(text) == ANSWER

        async def lc_ainvoke_whole() -> None:
            assert (await model.ainvoke(messages, stream=False)).content == ANSWER

        async def gate_complete() -> None:
            assert (await gate.complete(messages)).content == ANSWER

        async def gate_streamed(gate: LLMGate = gate) -> None:
            tokens: list[str] = []
            reply = await gate.complete(
                messages, on_token=lambda delta, _first: tokens.append(delta)
            )
            assert reply.content == ANSWER

        async def lean_gate_complete() -> None:
            assert (await lean_gate.complete(messages)).content == ANSWER

        async def lean_gate_streamed() -> None:
            await gate_streamed(lean_gate)

        variants: dict[str, Callable[[], Awaitable[None]]] = {
            "httpx stream": httpx_stream,
            "ollama stream": ollama_stream,
            "ChatOllama.ainvoke": lc_ainvoke,
            "ChatOllama.astream": lc_astream,
            "ChatOllama.ainvoke(stream=False)": lc_ainvoke_whole,
            "LLMGate.complete": gate_complete,
            "LLMGate.complete(on_token)": gate_streamed,
            "httpx stream, KeepAliveTransport": lean_httpx_stream,
            "LLMGate.complete, KeepAliveTransport": lean_gate_complete,
            "LLMGate.complete(on_token), KeepAliveTransport": lean_gate_streamed,
        }
        for call in variants.values():  # warm-up: connections, imports, caches
            for _ in range(10):
                await call()
        cpu = {name: 0.0 for name in variants}
        for _ in range(args.calls):
            for name, call in variants.items():
                started = time.process_time()
                await call()
                cpu[name] += time.process_time() - started
        if args.profile:
            chosen = next(v for k, v in variants.items() if args.profile.lower() in k.lower())
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(args.calls):
                await chosen()
            profiler.disable()
            stats = pstats.Stats(profiler)
            stats.sort_stats("cumulative").print_stats(40)
            stats.sort_stats("tottime").print_stats(30)
            stats.sort_stats("cumulative").print_stats("langchain|ollama|uuid|langsmith", 60)
        await raw.aclose()
        await lean_raw.aclose()
        return {name: total * 1000 / args.calls for name, total in cpu.items()}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    figures = common.run(lambda: measure(args))
    for name, ms in figures.items():
        print(f"{name:34} {ms:.3f} ms CPU per call")
    return figures


if __name__ == "__main__":
    main()
