"""Outbox delivery: priority fall-through, retries with backoff, permanent failures, crashes,
short leases kept alive by a heartbeat."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import pytest

from engine.config import Settings
from engine.errors import NotFound
from engine.models.notification import NotificationStatus
from engine.services.notifications.notification_service import backoff_delay
from tests.fakes import FakeSMTP, FakeTelegram
from tests.fakes.waiting import wait_for
from tests.support.api import Account, Org
from tests.support.stack import Stack, engine_stack

CHAT = 5550001


async def notify(stack: Stack, account: Account, **kwargs: Any) -> UUID:
    return await stack.engine.notifications.notify(
        UUID(account.org_id),
        UUID(account.id),
        subject=kwargs.pop("subject", "Тема"),
        body=kwargs.pop("body", "Текст уведомления"),
        **kwargs,
    )


async def attempts(stack: Stack, account: Account, notification_id: UUID) -> list[dict[str, Any]]:
    response = await stack.client.get(
        "/api/v1/notifications/log",
        headers=account.headers,
        params={"notification_id": str(notification_id)},
    )
    assert response.status_code == 200, response.text
    return list(reversed(response.json()))  # oldest first


async def status_of(stack: Stack, account: Account, notification_id: UUID) -> dict[str, Any]:
    response = await stack.client.get(
        f"/api/v1/notifications/{notification_id}", headers=account.headers
    )
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


async def person_with_two_channels(stack: Stack) -> tuple[Org, Account]:
    """A user whose linked Telegram chat (priority 10) outranks their email (priority 0)."""
    org = await stack.api.create_org(members=1)
    person = org.members[0]
    await stack.link_telegram(person, CHAT, update_id=1)
    await stack.add_email(person, "person@example.com")
    return org, person


async def test_first_working_channel_by_priority_wins(
    stack: Stack, fake_telegram: FakeTelegram, fake_smtp: FakeSMTP
) -> None:
    _, person = await person_with_two_channels(stack)
    fake_telegram.reset()
    notification_id = await notify(stack, person, subject="Срок отчёта")
    assert await stack.engine.notifications.dispatch_pending() == 1
    assert fake_telegram.texts(CHAT) == ["Срок отчёта\n\nТекст уведомления"]
    assert fake_smtp.messages == []  # stopped at the first success
    assert (await status_of(stack, person, notification_id))["status"] == "sent"
    log = await attempts(stack, person, notification_id)
    assert [(a["channel_type"], a["status"], a["attempt"]) for a in log] == [
        ("telegram", "sent", 1)
    ]
    assert log[0]["finished_at"] is not None


async def test_failure_falls_through_to_the_next_channel(
    stack: Stack, fake_telegram: FakeTelegram, fake_smtp: FakeSMTP
) -> None:
    _, person = await person_with_two_channels(stack)
    fake_telegram.reset()
    fake_telegram.fail_next(403, method="sendMessage")  # the person blocked the bot
    notification_id = await notify(stack, person)
    await stack.engine.notifications.dispatch_pending()
    assert [m.to for m in fake_smtp.messages] == [["person@example.com"]]
    log = await attempts(stack, person, notification_id)
    assert [(a["channel_type"], a["status"]) for a in log] == [
        ("telegram", "permanent_error"),
        ("email", "sent"),
    ]
    assert "403" in log[0]["error"]
    assert (await status_of(stack, person, notification_id))["status"] == "sent"


async def test_all_channels_gets_every_channel(
    stack: Stack, fake_telegram: FakeTelegram, fake_smtp: FakeSMTP
) -> None:
    _, person = await person_with_two_channels(stack)
    fake_telegram.reset()
    await notify(stack, person, all_channels=True, body="всем каналам")
    await stack.engine.notifications.dispatch_pending()
    assert fake_telegram.texts(CHAT) == ["Тема\n\nвсем каналам"]
    assert len(fake_smtp.messages) == 1


async def test_transient_failures_back_off_exponentially_then_deliver(
    stack: Stack, fake_smtp: FakeSMTP
) -> None:
    org = await stack.api.create_org(members=1)
    person = org.members[0]
    await stack.add_email(person, "person@example.com")
    fake_smtp.fail_next(451, count=2)
    notification_id = await notify(stack, person)
    base = stack.settings.notification_backoff_base_seconds
    for attempt, expected_delay in ((1, base), (2, 2 * base)):
        await stack.engine.notifications.dispatch_pending()
        state = await status_of(stack, person, notification_id)
        assert state["status"] == "pending" and state["attempts"] == attempt
        assert "451" in state["last_error"]
        now = await stack.engine.clock.now()
        delay = (_parse(state["next_attempt_at"]) - now).total_seconds()
        assert expected_delay - 2 < delay <= expected_delay
        # not due yet: a pass does nothing
        assert await stack.engine.notifications.dispatch_pending() == 0
        stack.shift_clock(timedelta(seconds=expected_delay))
    await stack.engine.notifications.dispatch_pending()
    assert (await status_of(stack, person, notification_id))["status"] == "sent"
    assert len(fake_smtp.messages) == 1
    log = await attempts(stack, person, notification_id)
    assert [(a["attempt"], a["status"]) for a in log] == [
        (1, "transient_error"),
        (2, "transient_error"),
        (3, "sent"),
    ]


def test_backoff_doubles_up_to_the_cap() -> None:
    delays = [backoff_delay(n, base=30, cap=200) for n in range(1, 6)]
    assert delays == [30, 60, 120, 200, 200]


async def test_permanent_failure_is_not_retried(stack: Stack, fake_smtp: FakeSMTP) -> None:
    org = await stack.api.create_org(members=1)
    person = org.members[0]
    await stack.add_email(person, "nobody@example.com")
    fake_smtp.fail_next(550, "5.1.1 No such user")
    notification_id = await notify(stack, person)
    await stack.engine.notifications.dispatch_pending()
    state = await status_of(stack, person, notification_id)
    assert state["status"] == "failed" and state["attempts"] == 1
    assert "550" in state["last_error"]
    stack.shift_clock(timedelta(days=1))
    assert await stack.engine.notifications.dispatch_pending() == 0
    assert len(await attempts(stack, person, notification_id)) == 1


async def test_gives_up_after_max_attempts(
    stack_settings: Callable[..., Settings], fake_smtp: FakeSMTP
) -> None:
    async with engine_stack(stack_settings(notification_max_attempts=3)) as stack:
        org = await stack.api.create_org(members=1)
        person = org.members[0]
        await stack.add_email(person, "person@example.com")
        await fake_smtp.down()
        notification_id = await notify(stack, person)
        for _ in range(5):
            await stack.engine.notifications.dispatch_pending()
            stack.shift_clock(timedelta(hours=1))
        state = await status_of(stack, person, notification_id)
        assert state["status"] == "failed" and state["attempts"] == 3
        assert state["last_error"].startswith("gave up after 3 attempts")
        assert len(await attempts(stack, person, notification_id)) == 3


async def test_telegram_retry_after_is_honoured_by_the_dispatcher(
    stack: Stack, fake_telegram: FakeTelegram
) -> None:
    org = await stack.api.create_org(members=1)
    person = org.members[0]
    await stack.link_telegram(person, CHAT, update_id=1)
    fake_telegram.reset()
    fake_telegram.fail_next(429, retry_after=300)  # longer than the 10 s backoff
    notification_id = await notify(stack, person)
    await stack.engine.notifications.dispatch_pending()
    state = await status_of(stack, person, notification_id)
    assert state["status"] == "pending"
    wait = (_parse(state["next_attempt_at"]) - await stack.engine.clock.now()).total_seconds()
    assert 295 < wait <= 300
    stack.shift_clock(timedelta(seconds=100))
    assert await stack.engine.notifications.dispatch_pending() == 0
    stack.shift_clock(timedelta(seconds=200))
    await stack.engine.notifications.dispatch_pending()
    assert fake_telegram.texts(CHAT) == ["Тема\n\nТекст уведомления"]


async def test_nothing_to_deliver_to(stack: Stack, fake_telegram: FakeTelegram) -> None:
    org = await stack.api.create_org(members=1)
    person = org.members[0]
    # a chat id typed in by hand is not used until the chat is linked with /start
    created = await stack.client.post(
        "/api/v1/notifications/channels",
        headers=person.headers,
        json={"type": "telegram", "address": "777"},
    )
    assert created.status_code == 201 and created.json()["verified"] is False
    notification_id = await notify(stack, person)
    await stack.engine.notifications.dispatch_pending()
    state = await status_of(stack, person, notification_id)
    assert state["status"] == "failed"
    assert state["last_error"] == "no enabled notification channels"
    assert fake_telegram.sent == []


async def test_outbox_survives_a_crash_before_sending(
    stack_settings: Callable[..., Settings], fake_smtp: FakeSMTP
) -> None:
    settings = stack_settings(notification_lease_seconds=60)
    async with engine_stack(settings) as first:
        org = await first.api.create_org(members=2)
        queued, claimed = org.members
        await first.add_email(queued, "queued@example.com")
        await first.add_email(claimed, "claimed@example.com")
        queued_id = await notify(first, queued)
        claimed_id = await notify(first, claimed)
        # the first process takes one notification and dies before sending it
        engine = first.engine
        now = await engine.clock.now()
        taken = await engine.storages.notifications.claim(
            now, lease_until=now + timedelta(seconds=60), limit=1
        )
        assert [n.id for n in taken] == [queued_id]
    assert fake_smtp.messages == []

    async with engine_stack(settings) as second:
        await second.engine.notifications.dispatch_pending()
        assert [m.to for m in fake_smtp.messages] == [["claimed@example.com"]]
        # the claimed one comes back once its lease has run out
        second.shift_clock(timedelta(seconds=61))
        await second.engine.notifications.dispatch_pending()
        assert sorted(m.to[0] for m in fake_smtp.messages) == [
            "claimed@example.com",
            "queued@example.com",
        ]
        for account, notification_id in ((queued, queued_id), (claimed, claimed_id)):
            state = await status_of(second, account, notification_id)
            assert state["status"] == NotificationStatus.SENT


# seconds; renewed every LEASE / 3 while a delivery is in flight, which leaves a loaded
# machine two seconds to run each heartbeat
LEASE = 3.0


async def lease_until(stack: Stack, notification_id: UUID) -> datetime | None:
    conn = await asyncpg.connect(stack.settings.database_url)
    try:
        value: datetime | None = await conn.fetchval(
            "SELECT lease_until FROM notifications WHERE id = $1", notification_id
        )
    finally:
        await conn.close()
    return value


async def test_a_slow_delivery_keeps_its_lease_while_it_runs(
    stack_settings: Callable[..., Settings], fake_smtp: FakeSMTP
) -> None:
    # the send outlasts two leases; the SMTP client must not give up on it first
    settings = stack_settings(notification_lease_seconds=LEASE, smtp_timeout_seconds=60)
    async with engine_stack(settings) as sender, engine_stack(settings) as other:
        org = await sender.api.create_org(members=1)
        person = org.members[0]
        await sender.add_email(person, "slow@example.com")
        notification_id = await notify(sender, person)
        fake_smtp.hold()
        sending = asyncio.create_task(sender.engine.notifications.dispatch_pending())
        await wait_for(lambda: fake_smtp.held == 1, timeout=10)
        first_lease = await lease_until(sender, notification_id)
        assert first_lease is not None

        async def renewed_twice_and_never_taken() -> bool:
            # another process passing meanwhile finds nothing to take over
            assert await other.engine.notifications.dispatch_pending() == 0
            lease = await lease_until(sender, notification_id)
            assert lease is not None, "the delivery ended while it was held"
            return lease >= first_lease + timedelta(seconds=2 * LEASE)

        # the send has now lasted more than two leases: only the heartbeat kept it
        await wait_for(renewed_twice_and_never_taken, timeout=30, interval=0.05)
        fake_smtp.release()
        assert await asyncio.wait_for(sending, timeout=10) == 1
        assert [m.to for m in fake_smtp.messages] == [["slow@example.com"]]
        state = await status_of(sender, person, notification_id)
        assert state["status"] == "sent" and state["attempts"] == 1
        assert len(await attempts(sender, person, notification_id)) == 1


async def test_an_abandoned_claim_is_taken_over_within_the_lease(
    stack_settings: Callable[..., Settings], fake_smtp: FakeSMTP
) -> None:
    settings = stack_settings(notification_lease_seconds=LEASE)
    async with engine_stack(settings) as crashed, engine_stack(settings) as survivor:
        org = await crashed.api.create_org(members=1)
        person = org.members[0]
        await crashed.add_email(person, "person@example.com")
        notification_id = await notify(crashed, person)
        # a process claims the notification and dies before sending: no heartbeat follows
        claimed_at = await crashed.engine.clock.now()
        taken = await crashed.engine.storages.notifications.claim(
            claimed_at, lease_until=claimed_at + timedelta(seconds=LEASE), limit=1
        )
        assert [n.id for n in taken] == [notification_id]

        async def delivered() -> bool:
            await survivor.engine.notifications.dispatch_pending()
            return bool(fake_smtp.messages)

        await wait_for(delivered, timeout=20, interval=0.05)
        waited = (await survivor.engine.clock.now() - claimed_at).total_seconds()
        assert LEASE <= waited < LEASE + 2.0  # not before the lease ran out, soon after
        assert [m.to for m in fake_smtp.messages] == [["person@example.com"]]
        state = await status_of(survivor, person, notification_id)
        assert state["status"] == "sent" and state["attempts"] == 2


async def test_notify_refuses_an_unknown_user(stack: Stack) -> None:
    org = await stack.api.create_org(members=0)
    other = await stack.api.create_org(members=1)
    with pytest.raises(NotFound):
        await stack.engine.notifications.notify(
            UUID(org.id), UUID(other.members[0].id), subject="x", body="y"
        )


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value)
