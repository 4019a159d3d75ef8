"""Benchmark 6, start-up and memory.

Time from process start to the first healthy `GET /api/v1/health` of `rugpt serve`
(`python -m engine.cli serve`, production settings, external database), against the same
for `bench.minimal_app` (Uvicorn + Starlette + an asyncpg pool answering /health from the
database): the first start on a fresh database (migrations, system administrator with the
default bcrypt cost) and warm restarts. RSS after start for both. Import cost of the engine
and of LangChain/LangGraph alone, in fresh interpreters. With `--load N`, RSS after N
`@@role` answers (benchmark 3's run, small), as `run_all.py` reports after benchmark 3.

    PYTHONPATH=src:. python bench/startup.py [--restarts 5] [--load 0]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402
from bench.common import Figure, median  # noqa: E402

NAME = "6 start-up"
ENGINE = [sys.executable, "-m", "engine.cli", "serve"]
MINIMAL = [sys.executable, "-m", "uvicorn", "bench.minimal_app:app", "--log-level", "warning"]
IMPORTS = {
    "python itself": "pass",
    "web stack (fastapi, uvicorn, asyncpg, httpx, pydantic-settings)": (
        "import fastapi, uvicorn, asyncpg, httpx, pydantic_settings, sse_starlette"
    ),
    "LangChain/LangGraph (core, ollama, graph)": (
        "import langchain_core.language_models, langchain_ollama, langgraph.graph"
    ),
    "engine (cli + app, all of the above)": "import engine.cli, engine.app",
}


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--restarts", type=int, default=5, help="warm starts measured, each")
    parser.add_argument("--imports", type=int, default=3, help="runs per import measurement")
    parser.add_argument("--load", type=int, default=0, help="@@role answers, then RSS")
    return parser.parse_args(argv)


def import_seconds(code: str, runs: int) -> float:
    env = common.engine_env("", "")
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=common.REPO)
        times.append(time.perf_counter() - started)
    return median(times)


async def measure(args: argparse.Namespace) -> list[Figure]:
    imports = {label: import_seconds(code, args.imports) for label, code in IMPORTS.items()}
    for label, seconds in imports.items():
        print(f"import {label}: {seconds * 1000:.0f} ms")

    async with (
        common.postgres() as admin_dsn,
        common.fresh_database(admin_dsn) as dsn,
        common.scripted_llm() as llm,
    ):
        real_bcrypt = {"bcrypt_rounds": 12}
        async with common.engine_process(
            dsn, llm.ollama_base_url, command=ENGINE, **real_bcrypt
        ) as first:
            first_s, first_rss = first.ready_s, first.rss_after_start_mb
        engine_s, engine_rss, minimal_s, minimal_rss = [], [], [], []
        for _ in range(args.restarts):
            async with common.engine_process(dsn, llm.ollama_base_url, command=MINIMAL) as m:
                minimal_s.append(m.ready_s)
                minimal_rss.append(m.rss_after_start_mb)
            async with common.engine_process(
                dsn, llm.ollama_base_url, command=ENGINE, **real_bcrypt
            ) as e:
                engine_s.append(e.ready_s)
                engine_rss.append(e.rss_after_start_mb)

    print(f"first start on a fresh database: {first_s:.2f} s, RSS {first_rss:.0f} MiB")
    print(f"warm starts, engine:  {[round(s, 2) for s in engine_s]} s")
    print(f"warm starts, minimal: {[round(s, 2) for s in minimal_s]} s")
    lc = imports["LangChain/LangGraph (core, ollama, graph)"] - imports["python itself"]
    eng = imports["engine (cli + app, all of the above)"] - imports["python itself"]
    figures = [
        Figure(NAME, "first start, fresh database", f"{first_s:.2f} s (RSS {first_rss:.0f} MiB)"),
        Figure(
            NAME,
            "minimal app start -> healthy",
            f"{median(minimal_s):.2f} s (RSS {median(minimal_rss):.0f} MiB)",
        ),
        Figure(
            NAME,
            "engine start -> healthy",
            f"{median(engine_s):.2f} s (RSS {median(engine_rss):.0f} MiB)",
        ),
        Figure(NAME, "engine/minimal start time", f"{median(engine_s) / median(minimal_s):.1f}x"),
        Figure(
            NAME,
            "LangChain/LangGraph share of engine imports",
            f"{lc * 1000:.0f} of {eng * 1000:.0f} ms ({lc / eng:.0%})",
        ),
    ]
    if args.load:
        from bench import slow_llm

        load_args = slow_llm.parse(
            ["--invocations", str(args.load), "--llm-delay", "0.2", "--idle", "1"]
        )
        _, rss_after = await slow_llm.measure(load_args)
        figures.append(
            Figure(NAME, f"RSS after {args.load} @@role answers", f"{rss_after:.0f} MiB")
        )
    return figures


def main(argv: Sequence[str] | None = None) -> list[Figure]:
    args = parse(argv)
    figures = common.run(lambda: measure(args))
    common.print_figures(figures)
    print(f"RESULT {NAME}: engine start -> healthy = {figures[2].value}; {figures[3].value}")
    return figures


if __name__ == "__main__":
    main()
