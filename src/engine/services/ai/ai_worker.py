"""Runs AI answers in the background: claims with a lease, heartbeats, recovers after crashes.

A request never waits for the LLM. Each AI message moves `pending → running → done | failed`;
work a dead process left behind (pending, or running past its lease) is claimed again by the
periodic recovery sweep, and given up as failed after `ai_max_attempts`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from engine.agents.context import AgentResult
from engine.config import Settings
from engine.llm.gate import LLMError
from engine.models.chat import AIJob
from engine.services.chats.events import ChatEvent, ChatEventBus, EventType
from engine.storage.messages import MessageStorage

log = logging.getLogger(__name__)

JobRunner = Callable[[AIJob, Callable[[str], None]], Awaitable[AgentResult]]


class AIJobError(Exception):
    """The job cannot run; the message says why (shown to users)."""


class AIWorker:
    def __init__(
        self,
        settings: Settings,
        messages: MessageStorage,
        bus: ChatEventBus,
        runner: JobRunner,
    ) -> None:
        self.settings = settings
        self.messages = messages
        self.bus = bus
        self.runner = runner
        self._slots = asyncio.Semaphore(settings.ai_job_slots)
        self._tasks: set[asyncio.Task[None]] = set()
        self._owned: set[int] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def active_jobs(self) -> int:
        """Answers this process holds: queued for a slot or running."""
        return len(self._owned)

    def submit(self, message_id: int) -> None:
        if self._closing or message_id in self._owned:
            return
        self._owned.add(message_id)
        task = asyncio.create_task(self._run(message_id), name=f"ai-job-{message_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def start(self) -> None:
        if not self.settings.ai_recovery_enabled:
            return
        await self.recover()
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="ai-recovery")

    async def recover(self) -> int:
        """Pick up work nobody holds; give up on work that failed too often. Returns count."""
        picked = 0
        for org_id, message_id, attempts in await self.messages.recoverable_ai_jobs(limit=500):
            if message_id in self._owned:
                continue
            if attempts >= self.settings.ai_max_attempts:
                failed = await self.messages.fail_ai_job(
                    org_id,
                    message_id,
                    error=f"interrupted {attempts} times (engine restarts); not retried again",
                )
                if failed is not None:
                    self.bus.publish(
                        failed.chat_id, ChatEvent(EventType.MESSAGE_UPDATED, message=failed)
                    )
                continue
            self.submit(message_id)
            picked += 1
        if picked:
            log.info("recovered %d AI jobs", picked)
        return picked

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.ai_recovery_interval_seconds)
            try:
                await self.recover()
            except Exception:
                log.exception("AI recovery sweep failed; will retry")

    async def _run(self, message_id: int) -> None:
        try:
            async with self._slots:
                job = await self.messages.claim_ai_job(message_id, self.settings.ai_lease_seconds)
                if job is None:
                    return
                await self._execute(job)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("AI job %s crashed", message_id)
        finally:
            self._owned.discard(message_id)

    async def _execute(self, job: AIJob) -> None:
        self.bus.publish(
            job.chat_id,
            ChatEvent(EventType.MESSAGE_STATUS, {"id": job.message_id, "ai_status": "running"}),
        )
        heartbeat = asyncio.create_task(self._heartbeat(job.org_id, job.message_id))

        def on_token(delta: str) -> None:
            self.bus.publish(
                job.chat_id,
                ChatEvent(EventType.AI_TOKEN, {"message_id": job.message_id, "delta": delta}),
            )

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
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
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

    async def _heartbeat(self, org_id: UUID, message_id: int) -> None:
        interval = self.settings.ai_lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            try:
                await self.messages.extend_ai_lease(
                    org_id, message_id, self.settings.ai_lease_seconds
                )
            except Exception:
                log.warning("could not extend lease of AI job %s", message_id)

    async def stop(self) -> None:
        """Cancel running work; its leases expire and another process (or restart) resumes it."""
        self._closing = True
        if self._sweeper is not None:
            self._sweeper.cancel()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(
            *tasks, *([self._sweeper] if self._sweeper else []), return_exceptions=True
        )

    async def drain(self) -> None:
        """Wait until no job runs (tests and benchmarks; wrap in asyncio.timeout)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
