"""The fleet of model servers: slots shared through the database, health, ejection.

Every engine process that runs AI work holds one `AIFleet`. Capacity is global: a slot is
taken in the database (`AIQueueStorage`), never only in memory. A backend that fails its
health probe, or `AI_BACKEND_EJECT_AFTER` calls in a row, is ejected for a back-off (10 s
doubling up to 5 min by default) that every process sees; the calls in flight on it move
to another backend while the job has attempts left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict
from typing import Any
from uuid import UUID

from engine.config import LLMBackend, Settings
from engine.llm.fleet import CURRENT_LEASE, SlotLease
from engine.llm.gate import LLMError
from engine.llm.probe import LLMProbe
from engine.models.ai_queue import BackendState, ClaimedJob, Priority
from engine.services.background import process_id
from engine.storage.ai_queue import AIQueueStorage

log = logging.getLogger(__name__)

QUEUE_SIGNAL = "ai-queue"
"""Relayed to every process when work is queued or a slot is freed: claim now."""


class AIFleet:
    def __init__(
        self,
        settings: Settings,
        queue: AIQueueStorage,
        probes: dict[str, LLMProbe],
        *,
        owner: str | None = None,
    ) -> None:
        self.settings = settings
        self.queue = queue
        self.backends: dict[str, LLMBackend] = {b.name: b for b in settings.backends}
        self.probes = probes
        self.owner = owner or process_id()
        self.held: set[int] = set()
        """Jobs and tickets this process holds (running or waiting): the heartbeat's list."""
        self.broadcast: Callable[[str], None] | None = None
        self._changed = asyncio.Event()
        self.backlog = True
        """Whether work may be waiting: something was waiting at the last claim (another
        answer, a ticket or an answer moving off a failed server, in any process; or no slot
        free), or the worker stopped before looking, or this process has no worker. When
        not, a slot freed here wakes nobody: whatever is queued or starts waiting later
        wakes every process itself (`changed`), and their claim passes find the slot."""
        self.local_worker = False
        """Whether this process's AI worker is claiming (it then takes a slot freed here
        itself and tells the other processes only what it leaves)."""
        self._released = 0
        """Slots freed here so far; the claim pass looks at those freed before its last
        claim (`_released_seen`) and tells the others what it left of them."""
        self._released_seen = 0
        self._released_handled = 0
        self.slot_left = False
        """Whether the last claim left a slot of a healthy server free."""
        self._ticket_waiters = 0
        self._suspect: set[str] = set()
        """Backends with a failure on record: a success is then written back."""

    @property
    def names(self) -> list[str]:
        return list(self.backends)

    async def start(self) -> None:
        await self.queue.register_backends([b.public() for b in self.backends.values()])

    # --- waking: new work or a freed slot ---

    def changed(self) -> None:
        """Something was queued or freed here: wake local waiters and every other process."""
        self.local_changed()
        self._tell_others()

    def local_changed(self) -> None:
        self._changed.set()

    async def wait_change(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._changed.wait()
        self._changed.clear()

    # --- slots ---

    async def claim(self, only_messages: set[int] | None = None) -> ClaimedJob | None:
        s = self.settings
        self._released_seen = self._released
        claim = await self.queue.claim(
            self.owner,
            backends=self.names,
            aging_seconds=s.ai_proactive_aging_seconds,
            lease_seconds=s.ai_lease_seconds,
            only_messages=None if only_messages is None else sorted(only_messages),
        )
        self.backlog, self.slot_left = claim.more_waiting, claim.slot_left
        if claim.job is not None:
            self.held.add(claim.job.id)
        return claim.job

    async def release(self, job_id: int) -> None:
        self.held.discard(job_id)
        try:
            await self.queue.finish(job_id)
        finally:
            self._slot_freed()

    def _slot_freed(self) -> None:
        """Wake whoever may want the slot: the worker here first. With recovery off each
        process claims only its own answers, so every process hears of every slot."""
        if not self.settings.ai_recovery_enabled:
            self.changed()
        elif self.backlog or self._ticket_waiters:
            self.local_changed()
            if self.local_worker:
                self._released += 1  # the claim pass here decides (claim_pass_done)
            else:
                self._tell_others()
        # else nothing waited at the last claim: whatever is queued or starts waiting
        # later wakes every process itself (`changed`), and their claims find the slot

    def claim_pass_done(self, *, at_limit: bool) -> bool:
        """After the local worker's claim pass: wake the other processes for a slot freed
        here that the pass left free while something waited (another process's ticket or
        moving answer), or did not look at (`at_limit`: its own jobs are at their limit).
        True when a slot was freed here after the pass's last claim: pass again."""
        if self._released == self._released_handled:
            return False
        if at_limit:
            self._released_handled = self._released
            self._tell_others()
            return False
        if self._released_seen > self._released_handled:
            self._released_handled = self._released_seen
            if self.backlog and self.slot_left:
                self._tell_others()
        return self._released > self._released_handled

    def _tell_others(self) -> None:
        if self.broadcast is not None:
            self.broadcast(QUEUE_SIGNAL)

    def lease_for(self, job_id: int, backend: str) -> SlotLease:
        return SlotLease(job_id, backend, reroute=self.reroute, on_success=self._succeeded)

    @contextlib.asynccontextmanager
    async def hold(
        self, org_id: UUID, user_id: UUID | None, priority: Priority
    ) -> AsyncIterator[SlotLease]:
        """A slot for a proactive run, waited for in the shared queue's order; inside, the
        run's model calls go to its backend. Already inside a lease: that one."""
        current = CURRENT_LEASE.get()
        if current is not None:
            yield current
            return
        s = self.settings
        ticket = await self.queue.add_ticket(
            org_id, user_id, priority, self.owner, s.ai_lease_seconds
        )
        self.held.add(ticket)
        token = None
        waited = False
        try:
            self._ticket_waiters += 1
            try:
                while True:
                    backend = await self.queue.grant_ticket(
                        ticket,
                        backends=self.names,
                        aging_seconds=s.ai_proactive_aging_seconds,
                        lease_seconds=s.ai_lease_seconds,
                    )
                    if backend is not None:
                        break
                    if not waited:
                        self.changed()  # a ticket waits: every process's releases wake it
                        waited = True
                    await self.wait_change(s.ai_poll_interval_seconds)
            finally:
                self._ticket_waiters -= 1
            lease = self.lease_for(ticket, backend)
            token = CURRENT_LEASE.set(lease)
            yield lease
        finally:
            if token is not None:
                CURRENT_LEASE.reset(token)
            await asyncio.shield(self.release(ticket))

    async def heartbeat(self) -> None:
        """Renew the leases of everything this process holds."""
        await self.queue.extend(list(self.held), self.owner, self.settings.ai_lease_seconds)

    # --- failures ---

    async def reroute(self, lease: SlotLease, error: LLMError) -> None:
        """After `error` on the lease's backend: count it against the backend and move the
        slot to another healthy backend, waiting for a free one (before any new claim: the
        job is on record as moving); raise `error` when the job has used its attempts or no
        other backend can take it."""
        s = self.settings
        failed = lease.backend
        lease.failed.append(failed)
        await self._failed(failed, f"{error.kind.value}: {error.detail}", s.ai_backend_eject_after)
        if lease.job_id is None or len(lease.failed) >= s.ai_max_attempts:
            raise error
        deadline = asyncio.get_running_loop().time() + s.llm_timeout_seconds
        waiting = False
        try:
            while True:
                others = [
                    b.name
                    for b in await self.queue.backend_states()
                    if b.name in self.backends and not b.ejected and b.name not in lease.failed
                ]
                if not others:
                    raise error
                moved = await self.queue.move(
                    lease.job_id,
                    backends=others,
                    exclude=lease.failed,
                    lease_seconds=s.ai_lease_seconds,
                )
                if moved is not None:
                    log.warning(
                        "job %s: %s failed (%s); moved to %s",
                        lease.job_id,
                        failed,
                        error.detail,
                        moved,
                    )
                    lease.backend = moved
                    if not waiting:
                        self.changed()  # the failed backend's slot is free again
                    waiting = False
                    return
                if not waiting:
                    self.changed()  # the failed backend's slot is free now
                waiting = True  # new claims now leave the servers it may take to it
                if asyncio.get_running_loop().time() > deadline:
                    raise error
                await self.wait_change(s.ai_poll_interval_seconds)
        finally:
            if waiting:
                await asyncio.shield(self.queue.stop_moving(lease.job_id))

    async def _failed(self, name: str, reason: str, eject_after: int) -> None:
        self._suspect.add(name)
        s = self.settings
        try:
            ejected = await self.queue.backend_failed(
                name,
                reason,
                eject_after=eject_after,
                backoff_seconds=s.ai_backend_backoff_seconds,
                backoff_max_seconds=s.ai_backend_backoff_max_seconds,
            )
        except Exception:
            log.exception("could not record the failure of backend %s", name)
            return
        if ejected:
            log.warning("model server %s ejected: %s", name, reason)

    def _succeeded(self, name: str) -> None:
        if name in self._suspect:
            self._suspect.discard(name)
            task = asyncio.get_running_loop().create_task(self.queue.backend_ok(name))
            task.add_done_callback(_log_failure)

    async def probe(self) -> None:
        """Probe every backend: one failed probe ejects it; dead tickets are forgotten.

        A probe that passes clears nothing: it only lists the models, so a server that
        lists them but fails every answer (500s) must still reach AI_BACKEND_EJECT_AFTER
        failures in a row; an answer that succeeds clears them, in whichever process it
        succeeds (failures recorded by other processes are marked suspect here too)."""
        self._suspect.update(
            state.name
            for state in await self.queue.backend_states()
            if state.name in self.backends and (state.consecutive_failures or state.ejected)
        )
        for name, probe in self.probes.items():
            status = await probe.status(fresh=True)
            if not (status.reachable and status.model_present):
                reason = status.error or f"model {status.model!r} missing"
                await self._failed(name, f"health: {reason}", eject_after=1)
        await self.queue.forget_dead_tickets()

    # --- reports ---

    async def report(self) -> dict[str, Any]:
        # the servers this process is configured with: a row left by a server taken out of
        # LLM_BACKENDS (or by another installation's list) is not part of the fleet
        states = [s for s in await self.queue.backend_states() if s.name in self.backends]
        queued = await self.queue.queue_length()
        listed = []
        for state in states:
            item = _state_report(state)
            probe = self.probes.get(state.name)
            if probe is not None:
                status = await probe.status()
                item["reachable"] = status.reachable
                item["model_present"] = status.model_present
                item["error"] = status.error
            listed.append(item)
        return {"queue_length": queued, "backends": listed}


def _state_report(state: BackendState) -> dict[str, Any]:
    report = asdict(state)
    report["state"] = state.state
    if state.ejected_until is not None:
        report["ejected_until"] = state.ejected_until.isoformat()
    return report


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("backend state not updated: %r", task.exception())
