"""Runs AI answers in the background: claims from the shared queue, heartbeats, recovery.

A request never waits for the LLM. Each AI message moves `pending → running → done |
failed`. Its queue entry (`ai_jobs`, written in the transaction that wrote the message) is
claimed together with a slot of one model server, in fair order, by whichever process runs
a worker; a claim's lease is renewed by heartbeat, so the work of a process that died is
claimed again once its lease ran out, and given up as failed after `ai_max_attempts`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from engine.agents.context import AgentResult
from engine.config import Settings
from engine.llm.fleet import CURRENT_LEASE
from engine.llm.gate import LLMError, TokenCallback
from engine.models.ai_queue import ClaimedJob
from engine.models.chat import AIJob
from engine.services.ai.fleet import AIFleet
from engine.services.chats.events import ChatEvent, ChatEventBus, EventType
from engine.storage.messages import MessageStorage

log = logging.getLogger(__name__)

JobRunner = Callable[[AIJob, TokenCallback], Awaitable[AgentResult]]


class AIJobError(Exception):
    """The job cannot run; the message says why (shown to users)."""


class AIWorker:
    def __init__(
        self,
        settings: Settings,
        messages: MessageStorage,
        bus: ChatEventBus,
        runner: JobRunner,
        fleet: AIFleet,
    ) -> None:
        self.settings = settings
        self.messages = messages
        self.bus = bus
        self.runner = runner
        self.fleet = fleet
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.Task[None] | None = None
        self._beat: asyncio.Task[None] | None = None
        self._closing = False
        self._pass_again = False
        """A slot was freed here after the last claim pass's last claim: pass again now."""
        self._submitted: set[int] | None = None if settings.ai_recovery_enabled else set()
        """With recovery off, only the answers queued through this process are claimed."""

    @property
    def enabled(self) -> bool:
        return self.settings.ai_worker_enabled

    @property
    def active_jobs(self) -> int:
        """Answers this process is working on."""
        return len(self._tasks)

    def submit(self, message_id: int) -> None:
        """An answer was queued (its transaction committed): have a worker claim it."""
        if self._submitted is not None:
            self._submitted.add(message_id)
        self.fleet.changed()

    async def start(self) -> None:
        """Claim work until `stop`; heartbeats run for tickets even without the worker."""
        self._beat = asyncio.create_task(self._heartbeat_forever(), name="ai-heartbeat")
        if self.enabled:
            self._loop = asyncio.create_task(self._claim_forever(), name="ai-claims")

    async def recover(self) -> int:
        """One claim pass now; returns how many jobs it started."""
        return await self._claim_pass()

    async def _claim_forever(self) -> None:
        self.fleet.local_worker = True
        try:
            while not self._closing:
                again = False
                try:
                    await self._claim_pass()
                except Exception:
                    log.exception("AI claim pass failed; will retry")
                else:
                    again = self._pass_again
                if not again:
                    await self.fleet.wait_change(self.settings.ai_poll_interval_seconds)
        finally:
            self.fleet.local_worker = False

    async def _claim_pass(self) -> int:
        started = 0
        at_limit = False
        while not self._closing:
            if self._running() >= self.settings.ai_job_slots:
                self.fleet.backlog = True  # not looked: a slot freed here must look again
                at_limit = True
                break
            if self._submitted is not None and not self._submitted:
                break
            job = await self.fleet.claim(self._submitted)
            if job is None:
                break
            if self._submitted is not None and job.message_id is not None:
                self._submitted.discard(job.message_id)
            task = asyncio.create_task(self._run(job), name=f"ai-job-{job.id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            started += 1
            if not (self.fleet.backlog and self.fleet.slot_left):
                break  # nothing else waited, or no slot was left: no claim that finds none
        self._pass_again = self.fleet.claim_pass_done(at_limit=at_limit)
        return started

    def _running(self) -> int:
        # A finished job's task leaves the set in its done-callback, which runs after the
        # claim pass its own release woke: counted, its freed slot would stay idle.
        return sum(1 for task in self._tasks if not task.done())

    async def _heartbeat_forever(self) -> None:
        interval = self.settings.ai_lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            try:
                await self.fleet.heartbeat()
            except Exception:
                log.warning("could not renew the leases of AI jobs", exc_info=True)

    async def _run(self, claimed: ClaimedJob) -> None:
        try:
            CURRENT_LEASE.set(self.fleet.lease_for(claimed.id, claimed.backend))
            if claimed.message_id is not None:
                await self._answer(claimed, claimed.message_id)
        except asyncio.CancelledError:  # stopping: another process (or a restart) resumes it
            self.fleet.held.discard(claimed.id)
            with contextlib.suppress(Exception):
                await asyncio.shield(self.fleet.queue.abandon(claimed.id, self.fleet.owner))
            raise
        except Exception:
            log.exception("AI job %s crashed", claimed.id)
        await self.fleet.release(claimed.id)

    async def _answer(self, claimed: ClaimedJob, message_id: int) -> None:
        if claimed.attempts > self.settings.ai_max_attempts:
            failed = await self.messages.fail_ai_job(
                claimed.org_id,
                message_id,
                error=f"interrupted {claimed.attempts - 1} times (engine restarts); "
                "not retried again",
            )
            if failed is not None:
                self.bus.publish(
                    failed.chat_id, ChatEvent(EventType.MESSAGE_UPDATED, message=failed)
                )
            return
        job = await self.messages.begin_ai_job(claimed.org_id, message_id, claimed.attempts)
        if job is not None:
            await self._execute(job)

    async def _execute(self, job: AIJob) -> None:
        self.bus.publish(
            job.chat_id,
            ChatEvent(EventType.MESSAGE_STATUS, {"id": job.message_id, "ai_status": "running"}),
        )

        def on_token(delta: str, first: bool) -> None:
            data: dict[str, Any] = {"message_id": job.message_id, "delta": delta}
            if first:
                data["reset"] = True
            self.bus.publish(job.chat_id, ChatEvent(EventType.AI_TOKEN, data))

        try:
            result = await self.runner(job, on_token)
        except LLMError as exc:
            await self._fail(job, str(exc), meta=exc.to_meta())
            return
        except AIJobError as exc:
            await self._fail(job, str(exc))
            return
        except Exception as exc:
            log.exception("AI job %s failed", job.message_id)
            await self._fail(job, f"internal error: {type(exc).__name__}")
            return
        text = result.text or "(пустой ответ модели)"
        done = await self.messages.finish_ai_job(
            job.org_id, job.message_id, content=text, meta=result.to_meta()
        )
        if done is not None:
            self.bus.publish(job.chat_id, ChatEvent(EventType.MESSAGE_UPDATED, message=done))

    async def _fail(self, job: AIJob, reason: str, meta: dict[str, Any] | None = None) -> None:
        detail = f" ({meta})" if meta else ""
        log.warning("AI job %s failed: %s%s", job.message_id, reason, detail)
        failed = await self.messages.fail_ai_job(
            job.org_id, job.message_id, error=reason[:1000], meta=meta
        )
        if failed is not None:
            self.bus.publish(job.chat_id, ChatEvent(EventType.MESSAGE_UPDATED, message=failed))

    async def stop(self) -> None:
        """Cancel running work; its leases expire and another process (or restart) resumes it."""
        self._closing = True
        self.fleet.local_worker = False  # slots freed from now on are the others' to take
        self.fleet.local_changed()
        helpers = [t for t in (self._loop, self._beat) if t is not None]
        tasks = list(self._tasks)
        for task in (*helpers, *tasks):
            task.cancel()
        await asyncio.gather(*helpers, *tasks, return_exceptions=True)

    async def drain(self) -> None:
        """Run until nothing is left to claim here (tests and benchmarks; wrap in
        asyncio.timeout)."""
        while True:
            await self._claim_pass()
            if not self._tasks:
                return
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
