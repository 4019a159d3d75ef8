"""End to end: a recurring event with an AI role fires, the agent answers, people get it.

Real pieces throughout: the AgentExecutor with LangChain's Ollama client against the
scripted LLM server, the scheduler, the outbox dispatcher, SMTP and the Telegram Bot API
(loopback servers), the webhook.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from engine.config import Settings
from tests.fakes import FakeSMTP, FakeTelegram, Reply, ScriptedLLM, wait_for
from tests.support.stack import engine_stack

EVENTS = "/api/v1/calendar/events"
ANSWER = "На этой неделе: НДС 1 200 000 ₽ до 28-го, отчёт 6-НДФЛ до 25-го."
PROMPT = "Какие налоговые платежи и отчёты у нас на этой неделе?"


async def test_recurring_accountant_event_mails_the_llm_answer(
    stack_settings: Callable[..., Settings], llm: ScriptedLLM, fake_smtp: FakeSMTP
) -> None:
    llm.queue(Reply.text(ANSWER))
    settings = stack_settings(llm_base_url=llm.ollama_base_url, llm_timeout_seconds=10)
    async with engine_stack(settings) as stack:
        org = await stack.api.create_org(members=1)
        owner = org.members[0]
        await stack.add_email(owner, "owner@example.com")
        created = await stack.client.post(
            EVENTS,
            headers=owner.headers,
            json={
                "title": "Налоги недели",
                "kind": "recurring",
                "cron": "0 9 * * 1",  # Mondays 09:00 Moscow time
                "timezone": "Europe/Moscow",
                "starts_at": datetime.now(UTC).isoformat(),
                "role_code": "accountant",
                "prompt": PROMPT,
            },
        )
        assert created.status_code == 201, created.text
        first = datetime.fromisoformat(created.json()["next_run_at"])
        assert first.astimezone(ZoneInfo("Europe/Moscow")).strftime("%a %H:%M") == "Mon 09:00"

        stack.shift_clock(first - await stack.engine.clock.now() + timedelta(seconds=5))
        assert await stack.engine.scheduler.tick() == 1
        await stack.engine.notifications.dispatch_pending()

        (mail,) = fake_smtp.messages
        assert mail.to == ["owner@example.com"]
        assert mail.subject == "Календарь: Налоги недели"
        assert mail.text is not None and ANSWER in mail.text
        assert "Ответ ИИ-роли «accountant»" in mail.text

        (request,) = llm.requests
        assert "бухгалтер" in request.messages[0]["content"].lower()  # the accountant prompt
        assert PROMPT in request.last_user_text
        assert "Событие календаря: Налоги недели" in request.last_user_text
        runs = await stack.client.get(
            f"{EVENTS}/{created.json()['id']}/runs", headers=owner.headers
        )
        assert runs.json()[0]["agent_result"] == ANSWER


async def test_user_links_telegram_and_gets_the_agent_result_on_time(
    stack_settings: Callable[..., Settings], llm: ScriptedLLM, fake_telegram: FakeTelegram
) -> None:
    """The issue's 'done when', with the background scheduler and dispatcher running."""
    llm.set_default(Reply.text(ANSWER))
    interval = 0.2
    settings = stack_settings(
        llm_base_url=llm.ollama_base_url,
        llm_timeout_seconds=10,
        scheduler_enabled=True,
        scheduler_interval_seconds=interval,
        notification_dispatch_interval_seconds=interval,
    )
    async with engine_stack(settings) as stack:
        org = await stack.api.create_org(members=1)
        person = org.members[0]
        chat_id = 70_001

        await stack.link_telegram(person, chat_id, update_id=1)
        assert fake_telegram.texts(chat_id)[-1].startswith("Готово")

        # every minute, reminded a minute ahead: the first reminder is due right now
        created = await stack.client.post(
            EVENTS,
            headers=person.headers,
            json={
                "title": "Платежи",
                "kind": "recurring",
                "cron": "* * * * *",
                "timezone": "Europe/Berlin",
                "starts_at": datetime.now(UTC).isoformat(),
                "remind_before_minutes": 1,
                "role_code": "accountant",
                "prompt": PROMPT,
            },
        )
        assert created.status_code == 201, created.text
        due_at = datetime.fromisoformat(created.json()["next_run_at"])

        def delivered() -> list[str]:
            return [t for t in fake_telegram.texts(chat_id) if ANSWER in t]

        texts = await wait_for(delivered, timeout=10)
        assert texts[0].startswith("Календарь: Платежи")

        runs: list[dict[str, Any]] = (
            await stack.client.get(f"{EVENTS}/{created.json()['id']}/runs", headers=person.headers)
        ).json()
        fired = [r for r in runs if r["status"] == "done"]
        assert fired and fired[-1]["agent_result"] == ANSWER
        # on time: claimed within a couple of scheduler intervals of being due
        lateness = datetime.fromisoformat(fired[-1]["created_at"]) - due_at
        assert lateness < timedelta(seconds=2 * interval + 1), lateness


async def test_a_scheduled_run_only_proposes_and_the_owner_approves(
    stack_settings: Callable[..., Settings], llm: ScriptedLLM
) -> None:
    """A calendar firing has no chat message: the write its agent wants becomes a proposal
    attached to the firing, listed for the event's owner, applied when the owner approves."""
    llm.queue(
        Reply.tool_call(
            "calendar",
            {"action": "create", "title": "Оплатить НДС", "starts_at": "2026-12-28T09:00:00Z"},
        ),
        Reply.text("Предложил событие «Оплатить НДС», его нужно одобрить."),
    )
    settings = stack_settings(llm_base_url=llm.ollama_base_url, llm_timeout_seconds=10)
    async with engine_stack(settings) as stack:
        org = await stack.api.create_org(members=2)
        owner, other = org.members
        created = await stack.client.post(
            EVENTS,
            headers=owner.headers,
            json={
                "title": "Налоги недели",
                "starts_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
                "role_code": "accountant",
                "prompt": PROMPT,
            },
        )
        assert created.status_code == 201, created.text
        due = datetime.fromisoformat(created.json()["next_run_at"])
        stack.shift_clock(due - await stack.engine.clock.now() + timedelta(seconds=5))
        assert await stack.engine.scheduler.tick() == 1

        runs = await stack.client.get(
            f"{EVENTS}/{created.json()['id']}/runs", headers=owner.headers
        )
        (run,) = runs.json()
        pending = await stack.client.get("/api/v1/proposals", headers=owner.headers)
        (proposal,) = pending.json()
        assert proposal["calendar_run_id"] == run["id"]
        assert proposal["chat_id"] is None and proposal["status"] == "pending"
        listed = await stack.client.get(EVENTS, headers=owner.headers)
        assert [e["title"] for e in listed.json()] == ["Налоги недели"]

        url = f"/api/v1/proposals/{proposal['id']}/approve"
        assert (await stack.client.post(url, headers=other.headers)).status_code == 404
        approved = await stack.client.post(url, headers=owner.headers)
        assert approved.json()["status"] == "applied", approved.text
        listed = await stack.client.get(EVENTS, headers=owner.headers)
        assert sorted(e["title"] for e in listed.json()) == ["Налоги недели", "Оплатить НДС"]
