"""Event-loop lag: how late a periodic `asyncio.sleep` wakes up.

Kept free of heavy imports: `bench.serve_engine` loads it into the engine process.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque


def percentile(values: list[float], pct: float) -> float:
    """Linear-interpolated percentile (`pct` in 0..100) of `values`; 0.0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * pct / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


class LoopLagProbe:
    """Sleeps `interval` seconds in a loop and records the overshoot, in milliseconds.

    The overshoot is the time the loop was busy with other callbacks when the timer was due
    (plus the timer's own granularity, about 1 ms with uvloop).
    """

    def __init__(self, interval: float = 0.01, max_samples: int = 200_000) -> None:
        self.interval = interval
        self.samples: deque[float] = deque(maxlen=max_samples)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="lag-probe")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def reset(self, interval: float | None = None) -> None:
        """Forget the samples; with `interval`, sample that often from now on."""
        self.samples.clear()
        if interval is not None:
            self.interval = interval

    def summary(self) -> dict[str, float]:
        values = list(self.samples)
        return {
            "samples": float(len(values)),
            "p50_ms": round(percentile(values, 50), 3),
            "p99_ms": round(percentile(values, 99), 3),
            "max_ms": round(max(values), 3) if values else 0.0,
        }

    async def _run(self) -> None:
        while True:
            interval = self.interval
            started = time.perf_counter()
            await asyncio.sleep(interval)
            late = time.perf_counter() - started - interval
            self.samples.append(max(0.0, late) * 1000.0)
