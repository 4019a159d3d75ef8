"""Run every benchmark with small sizes (a few minutes) and print one table.

One embedded PostgreSQL serves them all (each benchmark still creates and drops its own
database); BENCH_DATABASE_URL uses an existing server instead. `--full` runs the sizes the
benchmarks default to (what bench/README.md reports), which takes longer.

    PYTHONPATH=src:. python bench/run_all.py [--full] [--only 1,2,3] [--markdown out.md]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import ai_latency, common, fleet, msg_write, read_path, slow_llm, startup  # noqa: E402
from bench.common import Figure  # noqa: E402

Main = Callable[[Sequence[str] | None], list[Figure]]

# (number, title, entry point, small arguments, full arguments)
BENCHMARKS: list[tuple[str, str, Main, list[str], list[str]]] = [
    (
        "1",
        "message write path",
        msg_write.main,
        ["--duration", "2", "--rounds", "2", "--db-work-ops", "200"],
        [],
    ),
    ("2", "AI added latency", ai_latency.main, ["--samples", "100"], []),
    (
        "3",
        "concurrency under slow LLM",
        slow_llm.main,
        ["--invocations", "200", "--llm-delay", "0.2", "--idle", "2"],
        [],
    ),
    (
        "5",
        "read path",
        read_path.main,
        ["--messages", "20000", "--samples", "100", "--load-duration", "3"],
        [],
    ),
    ("6", "start-up and memory", startup.main, ["--restarts", "2", "--imports", "2"], []),
    (
        "11",
        "AI queue over a fleet",
        fleet.main,
        ["--questions", "120", "--workers", "2", "--fair-heavy", "60"],
        [],
    ),
]

try:  # benchmark 4 needs the calendar scheduler (branch `calendar`)
    from bench import scheduler
except ImportError:
    scheduler = None  # type: ignore[assignment]
else:
    BENCHMARKS.insert(
        3,
        (
            "4",
            "scheduler throughput",
            scheduler.main,
            ["--events", "2000", "--agent-events", "300"],
            [],
        ),
    )


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="the benchmarks' default sizes")
    parser.add_argument("--only", default="", help="comma-separated benchmark numbers")
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    return parser.parse_args(argv)


@contextlib.contextmanager
def shared_postgres() -> object:
    if os.environ.get("BENCH_DATABASE_URL"):
        yield os.environ["BENCH_DATABASE_URL"]
        return
    with tempfile.TemporaryDirectory(prefix="rugpt-bench-") as tmp:
        Path(tmp).chmod(0o755)
        with common._pgserver(Path(tmp)) as dsn:
            os.environ["BENCH_DATABASE_URL"] = dsn
            try:
                yield dsn
            finally:
                os.environ.pop("BENCH_DATABASE_URL", None)


def main(argv: Sequence[str] | None = None) -> list[Figure]:
    args = parse(argv)
    wanted = {n.strip() for n in args.only.split(",") if n.strip()}
    figures: list[Figure] = []
    failed = False
    started = time.perf_counter()
    load_before = os.getloadavg()
    with shared_postgres():
        for number, title, entry, small, full in BENCHMARKS:
            if wanted and number not in wanted:
                continue
            print(f"\n=== benchmark {number}: {title} ===", flush=True)
            bench_started = time.perf_counter()
            try:
                figures += entry(full if args.full else small)
            except Exception as exc:  # report it and go on with the others
                failed = True
                traceback.print_exc()
                figures.append(
                    Figure(f"{number} {title}", "FAILED", f"{type(exc).__name__}: {exc}")
                )
            print(f"(benchmark {number} took {time.perf_counter() - bench_started:.0f} s)")
    if scheduler is None and (not wanted or "4" in wanted):
        figures.append(
            Figure(
                "4 scheduler",
                "not run",
                "the calendar scheduler is not on this branch yet",
                "see bench/README.md",
                None,
            )
        )
    elapsed = time.perf_counter() - started
    print(f"\n=== all benchmarks: {elapsed:.0f} s ===")
    print(
        f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"load average {load_before[0]:.1f} before / {os.getloadavg()[0]:.1f} after"
    )
    print(f"command: {common.command_line()}\n")
    table = common.print_figures(figures)
    if args.markdown:
        args.markdown.write_text(table + "\n")
    if failed:
        raise SystemExit(1)
    return figures


if __name__ == "__main__":
    main()
