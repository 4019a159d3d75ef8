"""The proactive scheduler: fires due calendar occurrences exactly once across processes.

A tick claims due events in one transaction (`FOR UPDATE SKIP LOCKED`, so concurrent
engine processes split the work), records the firing in calendar_event_runs (unique per
event and occurrence, the last line of defence against a double firing), and moves the
event's next_run_at on. The firing itself (agent run, notifications) happens after the
commit, under a short lease renewed by a heartbeat: if the process dies, another one
takes the firing over once the lease expires. The attempt number fences every later
write, and the notifications are queued in the same transaction that marks the firing
done, so a restart neither loses nor repeats one. Due-ness is judged by the database clock.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from uuid import UUID
from zoneinfo import ZoneInfo

from engine.config import Settings
from engine.llm.gate import LLMError
from engine.models.calendar import (
    AgentRunOutcome,
    CalendarEvent,
    EventRun,
    MissedPolicy,
    RunStatus,
)
from engine.services.background import process_id, renewing_leases
from engine.services.calendar.recurrence import Schedule
from engine.services.notifications.notification_service import NotificationService
from engine.storage.calendar import CalendarRunStorage, CalendarStorage
from engine.storage.postgres.clock import DatabaseClock
from engine.storage.postgres.database import Database
from engine.storage.users import UserStorage

log = logging.getLogger(__name__)

MAX_ROUNDS_PER_TICK = 100


class ProactiveAgentRunner(Protocol):
    """Runs an AI role on a prompt on behalf of a user, outside any chat."""

    async def __call__(
        self,
        *,
        org_id: UUID,
        user_id: UUID,
        role_code: str,
        prompt: str,
        context: str,
        run_id: UUID | None = None,
    ) -> AgentRunOutcome: ...


async def agent_system_unavailable(
    *,
    org_id: UUID,
    user_id: UUID,
    role_code: str,
    prompt: str,
    context: str,
    run_id: UUID | None = None,
) -> AgentRunOutcome:
    """The runner used until the AI agents are plugged in."""
    return AgentRunOutcome(None, "agent system not available")


async def run_agent_safely(
    runner: ProactiveAgentRunner,
    *,
    time_limit: float,
    org_id: UUID,
    user_id: UUID,
    role_code: str,
    prompt: str,
    context: str,
    run_id: UUID | None = None,
) -> AgentRunOutcome:
    """The runner's outcome; a crash, a hang or an empty answer becomes an error outcome."""
    try:
        outcome = await asyncio.wait_for(
            runner(
                org_id=org_id,
                user_id=user_id,
                role_code=role_code,
                prompt=prompt,
                context=context,
                run_id=run_id,
            ),
            time_limit,
        )
    except TimeoutError:
        return AgentRunOutcome(None, f"ИИ-роль не ответила за {time_limit:.0f} с.")
    except LLMError as exc:  # a person reads this in mail or Telegram: the Russian sentence
        log.warning("agent %s failed for user %s: %s", role_code, user_id, exc.detail)
        return AgentRunOutcome(None, str(exc))
    except Exception:
        log.exception("agent %s failed for user %s", role_code, user_id)
        return AgentRunOutcome(None, "Внутренняя ошибка ИИ-роли; подробности в журнале сервера.")
    if not outcome.text and not outcome.error:
        return AgentRunOutcome(None, "ИИ-роль не дала ответа.")
    return outcome


@dataclass(frozen=True, slots=True)
class FiringPlan:
    """What to do with a due event now."""

    fire: datetime | None  # the occurrence to fire
    skip: datetime | None  # the occurrence recorded as skipped (missed, policy `skip`)
    next_occurrence_at: datetime | None
    next_run_at: datetime | None


def plan_firing(event: CalendarEvent, now: datetime, *, grace: timedelta) -> FiringPlan:
    """Fire only the latest due occurrence (never a burst); under `skip`, not if it is stale."""
    schedule = Schedule.of_event(event)
    remind = timedelta(minutes=event.remind_before_minutes)
    horizon = now + remind  # an occurrence is due once its reminder time has come
    due = event.next_occurrence_at
    latest = schedule.latest_at_or_before(horizon)
    if latest is None or (due is not None and latest < due):
        latest = due
    if latest is None:
        upcoming = schedule.first_at_or_after(now)
        run_at = max(upcoming - remind, now) if upcoming else None
        return FiringPlan(None, None, upcoming, run_at)
    upcoming = schedule.next_after(max(latest, horizon))
    run_at = upcoming - remind if upcoming else None
    fire_time = event.next_run_at if latest == due and event.next_run_at else latest - remind
    if event.missed_policy is MissedPolicy.SKIP and now - fire_time > grace:
        return FiringPlan(None, latest, upcoming, run_at)
    return FiringPlan(latest, None, upcoming, run_at)


def event_context(event: CalendarEvent, occurrence_at: datetime, people: list[str]) -> str:
    when = occurrence_at.astimezone(ZoneInfo(event.timezone))
    lines = [
        f"Событие календаря: {event.title}",
        f"Время: {when:%d.%m.%Y %H:%M} ({event.timezone})",
    ]
    if event.description:
        lines.append(f"Описание: {event.description}")
    if people:
        lines.append(f"Участники: {', '.join(people)}")
    return "\n".join(lines)


def render_notification(
    event: CalendarEvent, occurrence_at: datetime, outcome: AgentRunOutcome | None
) -> tuple[str, str]:
    when = occurrence_at.astimezone(ZoneInfo(event.timezone))
    lines = [event.title, f"Начало: {when:%d.%m.%Y %H:%M} ({event.timezone})"]
    if event.description:
        lines += ["", event.description]
    if outcome is not None and event.role_code:
        if outcome.text:
            lines += ["", f"Ответ ИИ-роли «{event.role_code}»:", outcome.text]
        else:
            lines += ["", f"ИИ-роль «{event.role_code}» не выполнила задание: {outcome.error}"]
    return f"Календарь: {event.title}", "\n".join(lines)


class SchedulerService:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        events: CalendarStorage,
        runs: CalendarRunStorage,
        users: UserStorage,
        notifications: NotificationService,
        clock: DatabaseClock,
        runner: ProactiveAgentRunner = agent_system_unavailable,
        *,
        instance_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.events = events
        self.runs = runs
        self.users = users
        self.notifications = notifications
        self.clock = clock
        self.runner = runner
        self.instance_id = instance_id or process_id()

    async def tick(self) -> int:
        """Fire everything due now; return how many firings were carried out."""
        handled = await self._execute_all(await self._recover())
        for _ in range(MAX_ROUNDS_PER_TICK):
            locked, claimed = await self._claim()
            handled += await self._execute_all(claimed)
            if locked < self.settings.scheduler_batch_size:
                break
        return handled

    async def _recover(self) -> list[EventRun]:
        now = await self.clock.now()
        return await self.runs.reclaim_stale(
            now,
            lease_until=now + timedelta(seconds=self.settings.scheduler_lease_seconds),
            claimed_by=self.instance_id,
            limit=self.settings.scheduler_batch_size,
        )

    async def _claim(self) -> tuple[int, list[EventRun]]:
        settings = self.settings
        grace = timedelta(seconds=settings.scheduler_missed_grace_seconds)
        claimed: list[EventRun] = []
        async with self.db.system("scheduler").transaction() as conn:
            now = await self.clock.now(conn)
            due_events = await self.events.lock_due(
                now, limit=settings.scheduler_batch_size, conn=conn
            )
            for event in due_events:
                try:
                    plan = plan_firing(event, now, grace=grace)
                except Exception:  # bad data in one event must not stop the others
                    log.exception("event %s: unusable schedule; it will not fire again", event.id)
                    await self.events.set_next(
                        event.org_id,
                        event.id,
                        next_occurrence_at=None,
                        next_run_at=None,
                        conn=conn,
                    )
                    continue
                if plan.skip is not None:
                    log.info("event %s: missed occurrence %s skipped", event.id, plan.skip)
                    await self.runs.insert_skipped(
                        event.org_id,
                        event.id,
                        plan.skip,
                        "missed while no scheduler ran",
                        conn=conn,
                    )
                if plan.fire is not None:
                    run = await self.runs.insert_running(
                        event.org_id,
                        event.id,
                        plan.fire,
                        claimed_by=self.instance_id,
                        lease_until=now + timedelta(seconds=settings.scheduler_lease_seconds),
                        conn=conn,
                    )
                    if run is None:
                        log.info("event %s: occurrence %s already fired", event.id, plan.fire)
                    else:
                        claimed.append(run)
                await self.events.set_next(
                    event.org_id,
                    event.id,
                    next_occurrence_at=plan.next_occurrence_at,
                    next_run_at=plan.next_run_at,
                    conn=conn,
                )
        return len(due_events), claimed

    async def _execute_all(self, runs: list[EventRun]) -> int:
        if not runs:
            return 0
        limit = asyncio.Semaphore(self.settings.scheduler_concurrency)
        in_flight = {run.id: run.attempt for run in runs}

        async def execute(run: EventRun) -> None:
            try:
                async with limit:
                    await self._execute(run)
            except Exception:  # left `running`: taken over when the lease expires
                log.exception("firing %s of event %s failed", run.id, run.event_id)
            finally:
                in_flight.pop(run.id, None)

        # The lease is short (SCHEDULER_LEASE_SECONDS, 60 s) so a dead process's firings are
        # taken over within about a minute; renewed, a live process's agent may run for as
        # long as SCHEDULER_AGENT_TIMEOUT_SECONDS allows.
        async with renewing_leases(
            in_flight,
            lease_seconds=self.settings.scheduler_lease_seconds,
            now=self.clock.now,
            renew=lambda claims, until: self.runs.renew(claims, lease_until=until),
            what="firings",
        ):
            await asyncio.gather(*(execute(run) for run in runs))
        return len(runs)

    async def _execute(self, run: EventRun) -> None:
        settings = self.settings
        if run.attempt > settings.scheduler_max_attempts:
            await self.runs.finish(
                run.org_id,
                run.id,
                run.attempt,
                status=RunStatus.FAILED,
                error=f"gave up after {run.attempt - 1} attempts",
            )
            return
        event = await self.events.get(run.org_id, run.event_id)
        if event is None:
            await self.runs.finish(
                run.org_id, run.id, run.attempt, status=RunStatus.SKIPPED, error="event deleted"
            )
            return
        recipients = await self.users.find_active_by_ids(event.org_id, event.recipients)
        outcome: AgentRunOutcome | None = None
        if event.role_code and run.agent_status is not None:  # done before a restart
            outcome = AgentRunOutcome(run.agent_result, run.agent_error)
        elif event.role_code:
            people = [u.full_name or u.username for u in recipients]
            outcome = await run_agent_safely(
                self.runner,
                time_limit=settings.scheduler_agent_timeout_seconds,
                org_id=event.org_id,
                user_id=event.owner_id,
                role_code=event.role_code,
                prompt=event.prompt or event.description or event.title,
                context=event_context(event, run.occurrence_at, people),
                run_id=run.id,
            )
            saved = await self.runs.save_agent_outcome(
                run.org_id,
                run.id,
                run.attempt,
                ok=outcome.error is None,
                result=outcome.text,
                error=outcome.error,
            )
            if not saved:
                log.warning("firing %s was taken over while its agent ran", run.id)
                return
        subject, body = render_notification(event, run.occurrence_at, outcome)
        async with self.db.tenant(run.org_id).transaction() as conn:
            done = await self.runs.finish(
                run.org_id,
                run.id,
                run.attempt,
                status=RunStatus.DONE,
                notified=len(recipients),
                conn=conn,
            )
            if not done:
                log.warning("firing %s was taken over; not notifying twice", run.id)
                return
            for user in recipients:
                await self.notifications.notify(
                    event.org_id, user.id, subject=subject, body=body, source="calendar", conn=conn
                )
        self.notifications.wake()
        log.info(
            "event %s fired for %s (%d notified)", event.id, run.occurrence_at, len(recipients)
        )
