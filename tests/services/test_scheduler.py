"""The scheduler: exactly-once firing, missed runs, restarts, the agent step, the loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from engine.config import Settings
from engine.llm.gate import FAILURE_TEXT, LLMFailure
from engine.models.calendar import NewEvent
from tests.fakes import FakeSMTP, wait_for
from tests.support.api import Account
from tests.support.stack import ScriptedRunner, Stack, engine_stack

EVENTS = "/api/v1/calendar/events"


def hour_floor(value: datetime) -> datetime:
    return value.replace(minute=0, second=0, microsecond=0)


async def create_event(stack: Stack, account: Account, **body: Any) -> dict[str, Any]:
    payload = {"title": "Событие", "starts_at": _iso(datetime.now(UTC)), **body}
    response = await stack.client.post(EVENTS, headers=account.headers, json=payload)
    assert response.status_code == 201, response.text
    event: dict[str, Any] = response.json()
    return event


async def due_now(stack: Stack, account: Account, **body: Any) -> dict[str, Any]:
    """A one-time event an hour ahead whose one-hour reminder is due right away."""
    starts = datetime.now(UTC) + timedelta(hours=1)
    return await create_event(
        stack, account, starts_at=_iso(starts), remind_before_minutes=60, **body
    )


async def runs_of(stack: Stack, account: Account, event_id: str) -> list[dict[str, Any]]:
    response = await stack.client.get(f"{EVENTS}/{event_id}/runs", headers=account.headers)
    assert response.status_code == 200, response.text
    return list(reversed(response.json()))  # oldest first


async def event_of(stack: Stack, account: Account, event_id: str) -> dict[str, Any]:
    response = await stack.client.get(f"{EVENTS}/{event_id}", headers=account.headers)
    assert response.status_code == 200, response.text
    event: dict[str, Any] = response.json()
    return event


async def notifications_of(stack: Stack, account: Account) -> list[dict[str, Any]]:
    response = await stack.client.get(
        "/api/v1/notifications", headers=account.headers, params={"limit": 200}
    )
    assert response.status_code == 200, response.text
    return list(response.json())


async def test_due_event_fires_once_and_notifies_owner_and_participants(stack: Stack) -> None:
    org = await stack.api.create_org(members=3)
    owner, guest, former = org.members
    event = await due_now(
        stack, owner, title="Сверка", participants=[guest.id, former.id], description="с банком"
    )
    await stack.client.post(f"/api/v1/users/{former.id}/deactivate", headers=org.admin.headers)
    assert await stack.engine.scheduler.tick() == 1
    assert await stack.engine.scheduler.tick() == 0
    runs = await runs_of(stack, owner, event["id"])
    assert [(r["status"], r["notified"]) for r in runs] == [("done", 2)]
    assert runs[0]["occurrence_at"] == event["next_occurrence_at"]
    for account in (owner, guest):
        (notification,) = await notifications_of(stack, account)
        assert notification["subject"] == "Календарь: Сверка"
        assert notification["source"] == "calendar" and "с банком" in notification["body"]
    assert (
        await stack.engine.storages.notifications.list_for_user(
            UUID(org.id), UUID(former.id), limit=10, offset=0
        )
        == []
    )
    assert (await event_of(stack, owner, event["id"]))["next_run_at"] is None


async def test_recurring_event_fires_latest_missed_occurrence_only(stack: Stack) -> None:
    org = await stack.api.create_org(members=1)
    owner = org.members[0]
    now = await stack.engine.clock.now()
    event = await create_event(stack, owner, kind="recurring", cron="0 * * * *")
    first = hour_floor(now) + timedelta(hours=1)
    assert _parse(event["next_run_at"]) == first

    assert await stack.engine.scheduler.tick() == 0  # not due yet
    stack.shift_clock(first - now + timedelta(minutes=1))
    assert await stack.engine.scheduler.tick() == 1
    assert _parse((await event_of(stack, owner, event["id"]))["next_run_at"]) == first + timedelta(
        hours=1
    )

    # three hours of downtime: one firing, for the latest occurrence, no burst
    stack.shift_clock(timedelta(hours=3))
    assert await stack.engine.scheduler.tick() == 1
    runs = await runs_of(stack, owner, event["id"])
    assert [(_parse(r["occurrence_at"]), r["status"]) for r in runs] == [
        (first, "done"),
        (first + timedelta(hours=3), "done"),
    ]
    assert _parse((await event_of(stack, owner, event["id"]))["next_run_at"]) == first + timedelta(
        hours=4
    )
    assert len(await notifications_of(stack, owner)) == 2


@pytest.mark.parametrize("policy", ["latest", "skip"])
async def test_missed_run_policy(stack: Stack, policy: str) -> None:
    org = await stack.api.create_org(members=1)
    owner = org.members[0]
    now = await stack.engine.clock.now()
    event = await create_event(
        stack, owner, kind="recurring", cron="0 * * * *", missed_policy=policy
    )
    first = hour_floor(now) + timedelta(hours=1)
    # the engine was down from before the first run until half an hour after the third
    stack.shift_clock(first - now + timedelta(hours=2, minutes=30))
    assert await stack.engine.scheduler.tick() == (1 if policy == "latest" else 0)
    runs = await runs_of(stack, owner, event["id"])
    expected = "done" if policy == "latest" else "skipped"
    assert [(_parse(r["occurrence_at"]), r["status"]) for r in runs] == [
        (first + timedelta(hours=2), expected)
    ]
    assert len(await notifications_of(stack, owner)) == (1 if policy == "latest" else 0)
    # a run that is only a little late (within the grace period) fires under both policies
    stack.shift_clock(timedelta(minutes=31))
    assert await stack.engine.scheduler.tick() == 1
    assert (await runs_of(stack, owner, event["id"]))[-1]["status"] == "done"


async def test_agent_result_goes_into_the_notification(stack: Stack) -> None:
    runner = ScriptedRunner(answer="К оплате: НДС 1 200 000 ₽ до 28 числа")
    stack.engine.use_proactive_runner(runner)
    org = await stack.api.create_org(members=1)
    owner = org.members[0]
    event = await due_now(
        stack, owner, title="Налоги", role_code="accountant", prompt="Какие платежи на неделе?"
    )
    assert await stack.engine.scheduler.tick() == 1
    (call,) = runner.calls
    assert call["role_code"] == "accountant" and call["prompt"] == "Какие платежи на неделе?"
    assert call["user_id"] == UUID(owner.id) and call["org_id"] == UUID(org.id)
    assert "Событие календаря: Налоги" in call["context"]
    (run,) = await runs_of(stack, owner, event["id"])
    assert run["agent_status"] == "ok" and run["agent_result"] == runner.answer
    (notification,) = await notifications_of(stack, owner)
    assert (
        "Ответ ИИ-роли «accountant»:\nК оплате: НДС 1 200 000 ₽ до 28 числа"
        in (notification["body"])
    )


@pytest.mark.parametrize(
    ("runner", "reported"),
    [
        (
            ScriptedRunner(exception=RuntimeError("LLM is down")),
            "Внутренняя ошибка ИИ-роли; подробности в журнале сервера.",
        ),
        (ScriptedRunner(answer=None, error="no such role"), "no such role"),
        (None, FAILURE_TEXT[LLMFailure.UNREACHABLE]),  # the real executor, no LLM
    ],
)
async def test_agent_failure_still_notifies(
    stack: Stack, runner: ScriptedRunner | None, reported: str
) -> None:
    if runner is not None:
        stack.engine.use_proactive_runner(runner)
    org = await stack.api.create_org(members=1)
    owner = org.members[0]
    event = await due_now(stack, owner, role_code="accountant", prompt="Отчёт")
    assert await stack.engine.scheduler.tick() == 1
    (run,) = await runs_of(stack, owner, event["id"])
    assert run["status"] == "done" and run["agent_status"] == "failed"
    assert reported in run["agent_error"]
    (notification,) = await notifications_of(stack, owner)
    assert f"не выполнила задание: {reported}" in notification["body"]


async def test_two_schedulers_fire_200_occurrences_exactly_once(
    stack_settings: Callable[..., Settings],
) -> None:
    settings = stack_settings(scheduler_batch_size=20)
    async with engine_stack(settings) as one, engine_stack(settings) as two:
        org = await one.api.create_org(members=1)
        owner = org.members[0]
        actor = await one.engine.storages.users.get(UUID(org.id), UUID(owner.id))
        assert actor is not None
        starts = datetime.now(UTC) + timedelta(hours=1)
        event_ids = []
        for index in range(200):
            event = await one.engine.calendar.create_event(
                actor,
                NewEvent(
                    title=f"event {index}",
                    starts_at=starts + timedelta(minutes=index % 30),
                    role_code="accountant",
                    prompt="p",
                ),
            )
            event_ids.append(event.id)
        runners = [ScriptedRunner(), ScriptedRunner()]
        for stack, runner in zip((one, two), runners, strict=True):
            stack.engine.use_proactive_runner(runner)
            stack.shift_clock(timedelta(hours=2))
        fired = await asyncio.gather(one.engine.scheduler.tick(), two.engine.scheduler.tick())
        assert sum(fired) == 200
        assert len(runners[0].calls) + len(runners[1].calls) == 200
        assert await one.engine.scheduler.tick() == 0
        assert await two.engine.scheduler.tick() == 0
        for event_id in event_ids:
            runs = await one.engine.storages.calendar_runs.list_for_event(
                UUID(org.id), event_id, limit=10, offset=0
            )
            assert [r.status.value for r in runs] == ["done"], event_id
        assert len(await notifications_of(one, owner)) == 200


async def test_a_firing_is_recorded_once_per_occurrence(stack: Stack) -> None:
    org = await stack.api.create_org(members=1)
    event = await due_now(stack, org.members[0])
    await stack.engine.scheduler.tick()
    occurrence = _parse(event["next_occurrence_at"])
    async with stack.engine.db.tenant(UUID(org.id)).transaction() as conn:
        again = await stack.engine.storages.calendar_runs.insert_running(
            UUID(org.id),
            UUID(event["id"]),
            occurrence,
            claimed_by="another process",
            lease_until=occurrence,
            conn=conn,
        )
    assert again is None


async def test_restart_mid_run_loses_and_repeats_nothing(
    stack_settings: Callable[..., Settings],
) -> None:
    settings = stack_settings()
    lease = timedelta(seconds=settings.scheduler_lease_seconds)
    async with engine_stack(settings) as first:
        org = await first.api.create_org(members=2)
        owner, guest = org.members
        event = await due_now(
            first, owner, role_code="accountant", prompt="Отчёт", participants=[guest.id]
        )
        stuck = ScriptedRunner(gate=asyncio.Event())
        first.engine.use_proactive_runner(stuck)
        tick = asyncio.create_task(first.engine.scheduler.tick())
        await asyncio.wait_for(stuck.started.wait(), 5)
        tick.cancel()  # the process dies while the agent is thinking
        with contextlib.suppress(asyncio.CancelledError):
            await tick

    async with engine_stack(settings) as second:
        runner = ScriptedRunner(answer="ответ после перезапуска")
        second.engine.use_proactive_runner(runner)
        assert await second.engine.scheduler.tick() == 0  # its lease still holds
        assert [r["status"] for r in await runs_of(second, owner, event["id"])] == ["running"]
        assert await notifications_of(second, owner) == []

        second.shift_clock(lease + timedelta(seconds=1))
        assert await second.engine.scheduler.tick() == 1
        assert await second.engine.scheduler.tick() == 0
        (run,) = await runs_of(second, owner, event["id"])
        assert (run["status"], run["attempt"]) == ("done", 2)
        for account in (owner, guest):
            (notification,) = await notifications_of(second, account)
            assert "ответ после перезапуска" in notification["body"]


async def test_a_live_process_keeps_its_firing_past_the_lease_by_heartbeat(
    stack_settings: Callable[..., Settings],
) -> None:
    """The lease is short; an agent thinking for longer than it is not taken over."""
    settings = stack_settings(scheduler_lease_seconds=0.6)
    async with engine_stack(settings) as stack:
        org = await stack.api.create_org(members=1)
        owner = org.members[0]
        event = await due_now(stack, owner, role_code="accountant", prompt="Отчёт")
        gate = asyncio.Event()
        slow = ScriptedRunner(answer="долгий ответ", gate=gate)
        stack.engine.use_proactive_runner(slow)
        claimed_at = await stack.engine.clock.now()
        tick = asyncio.create_task(stack.engine.scheduler.tick())
        await asyncio.wait_for(slow.started.wait(), 5)

        async def three_leases_passed() -> bool:
            return await stack.engine.clock.now() > claimed_at + timedelta(seconds=1.8)

        await wait_for(three_leases_passed, timeout=10, interval=0.1)
        now = await stack.engine.clock.now()
        taken = await stack.engine.storages.calendar_runs.reclaim_stale(
            now, lease_until=now + timedelta(seconds=60), claimed_by="another process", limit=10
        )
        assert taken == []  # renewed while the agent thinks
        gate.set()
        assert await asyncio.wait_for(tick, 10) == 1
        (run,) = await runs_of(stack, owner, event["id"])
        assert (run["status"], run["attempt"]) == ("done", 1)


async def test_restart_after_the_agent_answered_reuses_its_answer(
    stack_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = stack_settings()
    async with engine_stack(settings) as first:
        org = await first.api.create_org(members=1)
        owner = org.members[0]
        event = await due_now(first, owner, role_code="accountant", prompt="Отчёт")
        first.engine.use_proactive_runner(ScriptedRunner(answer="сохранённый ответ"))

        async def lost_connection(*args: Any, **kwargs: Any) -> UUID:
            raise ConnectionResetError("connection to the database lost")

        monkeypatch.setattr(first.engine.notifications, "notify", lost_connection)
        assert await first.engine.scheduler.tick() == 1  # tried, and failed to notify
        (run,) = await runs_of(first, owner, event["id"])
        assert (run["status"], run["agent_status"]) == ("running", "ok")

    async with engine_stack(settings) as second:
        again = ScriptedRunner(answer="второй ответ")
        second.engine.use_proactive_runner(again)
        second.shift_clock(timedelta(seconds=settings.scheduler_lease_seconds + 1))
        assert await second.engine.scheduler.tick() == 1
        assert again.calls == []  # the agent is not asked twice
        (notification,) = await notifications_of(second, owner)
        assert "сохранённый ответ" in notification["body"]


async def test_a_broken_event_is_skipped_and_the_rest_fire(stack: Stack) -> None:
    org = await stack.api.create_org(members=1)
    owner = org.members[0]
    good = await due_now(stack, owner, title="good")
    bad = await due_now(stack, owner, title="bad")
    # data the API would refuse, as if written by an older version or by hand
    await stack.engine.storages.calendar_events.update(
        UUID(org.id), UUID(bad["id"]), {"kind": "recurring", "cron": "every day at nine"}
    )
    assert await stack.engine.scheduler.tick() == 1
    assert [r["status"] for r in await runs_of(stack, owner, good["id"])] == ["done"]
    assert await runs_of(stack, owner, bad["id"]) == []
    assert (await event_of(stack, owner, bad["id"]))["next_run_at"] is None
    assert await stack.engine.scheduler.tick() == 0


async def test_gives_up_on_a_firing_that_keeps_failing(
    stack_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = stack_settings(scheduler_max_attempts=2)
    async with engine_stack(settings) as stack:
        org = await stack.api.create_org(members=1)
        owner = org.members[0]
        event = await due_now(stack, owner)

        async def broken(*args: Any, **kwargs: Any) -> UUID:
            raise RuntimeError("bug")

        monkeypatch.setattr(stack.engine.notifications, "notify", broken)
        lease = timedelta(seconds=settings.scheduler_lease_seconds + 1)
        for _ in range(3):
            await stack.engine.scheduler.tick()
            stack.shift_clock(lease)
        (run,) = await runs_of(stack, owner, event["id"])
        assert (run["status"], run["attempt"]) == ("failed", 3)
        assert run["error"] == "gave up after 2 attempts"


async def test_background_loop_fires_survives_errors_and_stops(
    stack_settings: Callable[..., Settings], fake_smtp: FakeSMTP
) -> None:
    settings = stack_settings(
        scheduler_enabled=True,
        scheduler_interval_seconds=0.05,
        notification_dispatch_interval_seconds=0.05,
        scheduler_shutdown_grace_seconds=0.2,
    )
    async with engine_stack(settings) as stack:
        loop = next(t for t in stack.engine.background if t.name == "calendar-scheduler")
        real_tick = loop.step
        broken_once = False

        async def flaky_tick() -> object:
            nonlocal broken_once
            if not broken_once:
                broken_once = True
                raise RuntimeError("database hiccup")
            return await real_tick()

        loop.step = flaky_tick
        org = await stack.api.create_org(members=1)
        owner = org.members[0]
        await stack.add_email(owner, "owner@example.com")
        await due_now(stack, owner, title="Через фон")
        await wait_for(lambda: fake_smtp.messages, timeout=5)
        assert fake_smtp.messages[0].subject == "Календарь: Через фон"
        assert loop.failures == 1 and loop.running

        # shutdown in the middle of a slow agent run: cancelled after the grace period
        stack.engine.use_proactive_runner(ScriptedRunner(gate=asyncio.Event()))
        await due_now(stack, owner, role_code="accountant", prompt="долго")
        await wait_for(lambda: stack.engine.scheduler.runner.started.is_set(), timeout=5)  # type: ignore[attr-defined]
        loops = list(stack.engine.background)
    assert not any(task.running for task in loops)


def _iso(value: datetime) -> str:
    return value.isoformat()


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value)
