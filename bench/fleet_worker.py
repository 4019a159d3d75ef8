"""`rugpt worker`, unchanged, plus an optional probe of its AI claim loop (bench/fleet.py).

    python -m bench.fleet_worker        # same as `rugpt worker` (settings from the environment)

With BENCH_CLAIM_PROBE=1 every `AIWorker._claim_pass` is counted, and so are the passes
that claimed nothing while the process's job slots (AI_MAX_CONCURRENT_JOBS, by default the
fleet's summed capacity) were all counted as taken although one of the jobs counted had
already finished (its task done, not yet dropped from the set by its done-callback): the
slot that job freed in the database then stays idle until something else wakes the loop.
Each `AIQueueStorage.claim` (one transaction under the fleet's advisory lock) is timed too.
On stop the worker prints `claim probe: passes <n> blocked-by-finished <m> jobs <k>;
claim transactions <c> (empty <e>), p50 .. p99 .. total ..`.
Nothing in `src/` knows about it; without the variable this is exactly `rugpt worker`.
"""

from __future__ import annotations

import os
import sys
from typing import Any


def _instrument() -> None:
    import time

    from engine.services.ai.ai_worker import AIWorker
    from engine.storage.ai_queue import AIQueueStorage

    counts = {"passes": 0, "blocked": 0, "jobs": 0, "claims": 0, "empty": 0}
    claim_s: list[float] = []
    claim_pass = AIWorker._claim_pass
    stop = AIWorker.stop
    claim = AIQueueStorage.claim

    async def timed_claim(self: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        result = await claim(self, *args, **kwargs)
        claim_s.append(time.perf_counter() - started)
        counts["claims"] += 1
        counts["empty"] += result.job is None
        return result

    async def probed_pass(self: Any) -> int:
        counts["passes"] += 1
        tasks = self._tasks
        full = len(tasks) >= self.settings.ai_job_slots and any(t.done() for t in tasks)
        started = int(await claim_pass(self))
        counts["jobs"] += started
        if full and not started:
            counts["blocked"] += 1
        return started

    async def probed_stop(self: Any) -> None:
        ordered = sorted(claim_s) or [0.0]
        print(
            f"claim probe: passes {counts['passes']} blocked-by-finished {counts['blocked']} "
            f"jobs {counts['jobs']}; claim transactions {counts['claims']} "
            f"(empty {counts['empty']}), p50 {ordered[len(ordered) // 2] * 1000:.1f} ms "
            f"p99 {ordered[int(len(ordered) * 0.99)] * 1000:.1f} ms "
            f"total {sum(claim_s):.2f} s",
            flush=True,
        )
        await stop(self)

    AIWorker._claim_pass = probed_pass  # type: ignore[method-assign]
    AIWorker.stop = probed_stop  # type: ignore[method-assign]
    AIQueueStorage.claim = timed_claim  # type: ignore[method-assign]


def main() -> int:
    from engine.cli import main as rugpt

    if os.environ.get("BENCH_CLAIM_PROBE") == "1":
        _instrument()
    return rugpt(["worker"])


if __name__ == "__main__":
    sys.exit(main())
