"""SMTP and Telegram both down for a while under two engines' dispatchers; then back.

tests/services/test_notification_service.py steps one notification through its retries by
hand; here the background dispatchers of two engine processes (one database) run on their
own while both delivery services refuse connections, with notifications queued through both
engines. Once the services are back every notification is delivered: none lost, none sent
twice on any channel.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

import pytest

from engine.config import Settings
from tests.fakes import FakeSMTP, FakeTelegram
from tests.fakes.waiting import wait_for
from tests.support.figures import record
from tests.support.stack import engine_stack

pytestmark = pytest.mark.slow

PEOPLE = 12  # half on Telegram, half on email, plus one with both
PER_PERSON = 4
OUTAGE_SECONDS = 2.0


async def _counts(stack: Any, org_id: str) -> dict[str, Any]:
    row = await stack.engine.db.system("notification dispatcher").fetchrow(
        """SELECT count(*) FILTER (WHERE status = 'sent') AS sent,
                  count(*) FILTER (WHERE status = 'failed') AS failed,
                  count(*) AS total, coalesce(min(attempts), 0) AS min_attempts,
                  coalesce(sum(attempts), 0) AS attempts
           FROM notifications WHERE org_id = $1""",
        UUID(org_id),
    )
    return dict(row)


async def test_smtp_and_telegram_down_then_back_deliver_everything_once(
    stack_settings: Callable[..., Settings], fake_telegram: FakeTelegram, fake_smtp: FakeSMTP
) -> None:
    settings = stack_settings(
        scheduler_enabled=True,
        scheduler_interval_seconds=0.5,
        notification_dispatch_interval_seconds=0.1,
        notification_backoff_base_seconds=0.2,
        notification_backoff_max_seconds=1.0,
        notification_max_attempts=1000,
        telegram_timeout_seconds=2,
        smtp_timeout_seconds=2,
    )
    async with engine_stack(settings) as first, engine_stack(settings) as second:
        org = await first.api.create_org(members=PEOPLE + 1)
        telegram_people = org.members[: PEOPLE // 2]
        email_people = org.members[PEOPLE // 2 : PEOPLE]
        both = org.members[PEOPLE]
        chats: dict[str, int] = {}
        for n, person in enumerate([*telegram_people, both]):
            chats[person.id] = 7_000_000 + n
            await first.link_telegram(person, chats[person.id], update_id=100 + n)
        addresses = {p.id: f"{p.username}@example.com" for p in [*email_people, both]}
        for person in [*email_people, both]:
            await first.add_email(person, addresses[person.id])
        fake_telegram.reset()
        fake_smtp.reset()

        await fake_telegram.down()
        await fake_smtp.down()
        down_at = time.monotonic()
        queued: dict[str, tuple[str, bool]] = {}  # subject -> (person id, all channels)
        for k in range(PER_PERSON):
            for n, person in enumerate(org.members):
                subject = f"notice-{k}-{n}"
                all_channels = person is both and k % 2 == 0
                engine = (first if (k + n) % 2 else second).engine
                await engine.notifications.notify(
                    UUID(org.id),
                    UUID(person.id),
                    subject=subject,
                    body="body",
                    all_channels=all_channels,
                )
                queued[subject] = (person.id, all_channels)
        # both dispatchers keep failing and retrying while the services are down
        await wait_for(
            lambda: _retried(first, org.id, down_at),
            timeout=30,
            interval=0.1,
            message="notifications were not retried during the outage",
        )
        during = await _counts(first, org.id)
        assert during["sent"] == 0 and during["failed"] == 0
        await fake_telegram.up()
        await fake_smtp.up()
        up_at = time.monotonic()
        await wait_for(
            lambda: _all_sent(first, org.id, len(queued)),
            timeout=60,
            interval=0.1,
            message="notifications not all delivered after the services came back",
        )
        delivered_in = time.monotonic() - up_at
        after = await _counts(first, org.id)

    telegram = collections.Counter((m.chat_id, m.text.split("\n")[0]) for m in fake_telegram.sent)
    email = collections.Counter((m.to[0], m.subject) for m in fake_smtp.messages)
    expected_telegram: collections.Counter[tuple[int | str, str]] = collections.Counter()
    expected_email: collections.Counter[tuple[str, str]] = collections.Counter()
    for subject, (person_id, all_channels) in queued.items():
        on_telegram = person_id in chats
        on_email = person_id in addresses
        if person_id == both.id and not all_channels:
            # the first working channel by priority: whichever one the person ranks first
            continue
        if on_telegram:
            expected_telegram[(chats[person_id], subject)] += 1
        if on_email:
            expected_email[(addresses[person_id], subject)] += 1
    both_single = [s for s, (p, all_) in queued.items() if p == both.id and not all_]
    for subject in both_single:
        got = telegram[(chats[both.id], subject)] + email[(addresses[both.id], subject)]
        assert got == 1, (subject, got)
        telegram.pop((chats[both.id], subject), None)
        email.pop((addresses[both.id], subject), None)
    assert telegram == expected_telegram
    assert email == expected_email
    duplicates = sum(n - 1 for n in [*telegram.values(), *email.values()] if n > 1)
    record(
        "faults: SMTP and Telegram down, two dispatchers, then back",
        notifications=len(queued),
        outage_seconds=round(up_at - down_at, 1),
        attempts_during_outage=during["attempts"],
        delivered=after["sent"],
        lost=len(queued) - after["sent"],
        sent_twice=duplicates,
        delivered_within_seconds=round(delivered_in, 2),
    )
    assert after["sent"] == len(queued) and after["failed"] == 0


async def _retried(stack: Any, org_id: str, down_at: float) -> bool:
    counts = await _counts(stack, org_id)
    return bool(counts["min_attempts"] >= 2 and time.monotonic() - down_at >= OUTAGE_SECONDS)


async def _all_sent(stack: Any, org_id: str, expected: int) -> bool:
    counts = await _counts(stack, org_id)
    return bool(counts["sent"] == expected)
