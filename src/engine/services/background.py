"""A background loop that calls one step every interval, survives errors, stops cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from uuid import UUID

log = logging.getLogger(__name__)


def process_id() -> str:
    """Who holds a lease (AI jobs, firings): host, pid, and a nonce for a reused pid."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


Renew = Callable[[Sequence[tuple[UUID, int]], datetime], Awaitable[set[UUID]]]


@contextlib.asynccontextmanager
async def renewing_leases(
    in_flight: dict[UUID, int],
    *,
    lease_seconds: float,
    now: Callable[[], Awaitable[datetime]],
    renew: Renew,
    what: str,
) -> AsyncIterator[None]:
    """Keep the leases of `in_flight` ({id: attempt}) renewed while the block runs (the work
    it carries out), every third of a lease.

    A process that dies stops renewing, so its work is taken over once the short lease has
    run out; slow work of a live process is never taken over. Work no longer held (done
    meanwhile, or taken over after a lapse: its attempt number moved on) leaves the dict.
    """

    async def renew_forever() -> None:
        while True:
            await asyncio.sleep(lease_seconds / 3)
            claims = list(in_flight.items())
            if not claims:
                continue
            try:
                held = await renew(claims, await now() + timedelta(seconds=lease_seconds))
            except Exception:  # the next beat tries again; the lease still has 2/3 to run
                log.warning("could not renew the leases of %d %s", len(claims), what)
                continue
            for work_id, _ in claims:
                if work_id not in held and in_flight.pop(work_id, 0):
                    log.info("lease of %s %s is no longer ours", what, work_id)

    beat = asyncio.create_task(renew_forever(), name=f"lease-heartbeat-{what}")
    try:
        yield
    finally:
        beat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beat


class PeriodicTask:
    """Run `step` every `interval` seconds, or sooner when woken, until `stop()`."""

    def __init__(
        self,
        name: str,
        step: Callable[[], Awaitable[object]],
        *,
        interval: float,
        shutdown_grace: float = 10.0,
    ) -> None:
        self.name = name
        self.step = step
        self.interval = interval
        self.shutdown_grace = shutdown_grace
        self.passes = 0
        self.failures = 0
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self.name)
            log.info("%s started (every %.1fs)", self.name, self.interval)

    def wake(self) -> None:
        """Run the next pass now instead of at the end of the interval."""
        self._wake.set()

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                await self.step()
            except Exception:  # one bad pass must not end the loop
                self.failures += 1
                log.exception("%s: pass failed; next try in %.1fs", self.name, self.interval)
            self.passes += 1
            if self._stopping:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)

    async def stop(self) -> None:
        """Let the current pass finish (up to the grace period), then cancel it."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), self.shutdown_grace)
        except TimeoutError:
            log.warning(
                "%s did not finish within %.1fs; cancelling", self.name, self.shutdown_grace
            )
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        log.info("%s stopped", self.name)
