"""`rugpt worker`, unchanged, plus an optional probe of its AI claim loop (bench/fleet.py).

    python -m bench.fleet_worker        # same as `rugpt worker` (settings from the environment)

With BENCH_CLAIM_PROBE=1 every `AIWorker._claim_pass` is counted, and so are the passes
that claimed nothing while the process's job slots (AI_MAX_CONCURRENT_JOBS, by default the
fleet's summed capacity) were all counted as taken although one of the jobs counted had
already finished (its task done, not yet dropped from the set by its done-callback): the
slot that job freed in the database then stays idle until something else wakes the loop.
On stop the worker prints `claim probe: passes <n> blocked-by-finished <m> jobs <k>`.
Nothing in `src/` knows about it; without the variable this is exactly `rugpt worker`.
"""

from __future__ import annotations

import os
import sys
from typing import Any


def _instrument() -> None:
    from engine.services.ai.ai_worker import AIWorker

    counts = {"passes": 0, "blocked": 0, "jobs": 0}
    claim_pass = AIWorker._claim_pass
    stop = AIWorker.stop

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
        print(
            f"claim probe: passes {counts['passes']} blocked-by-finished {counts['blocked']} "
            f"jobs {counts['jobs']}",
            flush=True,
        )
        await stop(self)

    AIWorker._claim_pass = probed_pass  # type: ignore[method-assign]
    AIWorker.stop = probed_stop  # type: ignore[method-assign]


def main() -> int:
    from engine.cli import main as rugpt

    if os.environ.get("BENCH_CLAIM_PROBE") == "1":
        _instrument()
    return rugpt(["worker"])


if __name__ == "__main__":
    sys.exit(main())
