"""`rugpt serve`, unchanged, plus an optional event-loop lag probe for the benchmarks.

    python -m bench.serve_engine        # same as `rugpt serve` (settings from the environment)

With BENCH_LAG_PROBE=1 the app built by `engine.app.create_app` gets a `LoopLagProbe` task
in its event loop (started and stopped by the lifespan) and two extra routes:
`GET /__bench/lag` (p50/p99/max of the samples so far) and
`POST /__bench/lag/reset[?interval=<s>]` (forget the samples; sample that often from now on).
With BENCH_GC_PROBE=1 the garbage collector's pauses are timed (`gc.callbacks`) and
`GET /__bench/gc` answers their count, total and maximum per generation since the last
`POST /__bench/gc/reset`.
Nothing in `src/` changes; without the variables this is exactly `rugpt serve`.
"""

from __future__ import annotations

import gc
import os
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any


def _instrument(create_app: Callable[..., Any]) -> Callable[..., Any]:
    def create_with_probe(*args: Any, **kwargs: Any) -> Any:
        from bench.lagprobe import LoopLagProbe

        app = create_app(*args, **kwargs)
        probe = LoopLagProbe(interval=float(os.environ.get("BENCH_LAG_INTERVAL", "0.01")))
        inner = app.router.lifespan_context

        @asynccontextmanager
        async def lifespan(app_: Any) -> AsyncIterator[Any]:
            probe.start()
            try:
                async with inner(app_) as state:
                    yield state
            finally:
                await probe.stop()

        async def lag() -> dict[str, float]:
            return probe.summary()

        async def reset(interval: float | None = None) -> dict[str, float]:
            probe.reset(interval)
            return probe.summary()

        app.router.lifespan_context = lifespan
        app.add_api_route("/__bench/lag", lag, methods=["GET"], include_in_schema=False)
        app.add_api_route("/__bench/lag/reset", reset, methods=["POST"], include_in_schema=False)
        return app

    return create_with_probe


class GcProbe:
    """Times each collection by generation (the pause every request in flight waits out)."""

    def __init__(self) -> None:
        self.started = 0.0
        self.reset()
        gc.callbacks.append(self._callback)

    def reset(self) -> None:
        self.pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.started = time.perf_counter()
        else:
            self.pauses[info["generation"]].append((time.perf_counter() - self.started) * 1000)

    def summary(self) -> dict[str, Any]:
        return {
            f"gen{g}": {
                "count": len(p),
                "total_ms": round(sum(p), 2),
                "max_ms": round(max(p, default=0.0), 2),
            }
            for g, p in self.pauses.items()
        } | {"frozen": gc.get_freeze_count(), "threshold": gc.get_threshold()}


def _instrument_gc(create_app: Callable[..., Any]) -> Callable[..., Any]:
    def create_with_probe(*args: Any, **kwargs: Any) -> Any:
        app = create_app(*args, **kwargs)
        probe = GcProbe()

        async def pauses() -> dict[str, Any]:
            return probe.summary()

        async def reset() -> dict[str, Any]:
            probe.reset()
            return probe.summary()

        app.add_api_route("/__bench/gc", pauses, methods=["GET"], include_in_schema=False)
        app.add_api_route("/__bench/gc/reset", reset, methods=["POST"], include_in_schema=False)
        return app

    return create_with_probe


def main() -> int:
    import engine.app
    from engine.cli import main as rugpt

    if os.environ.get("BENCH_LAG_PROBE") == "1":
        engine.app.create_app = _instrument(engine.app.create_app)  # type: ignore[assignment]
    if os.environ.get("BENCH_GC_PROBE") == "1":
        engine.app.create_app = _instrument_gc(engine.app.create_app)  # type: ignore[assignment]
    return rugpt(["serve"])


if __name__ == "__main__":
    sys.exit(main())
