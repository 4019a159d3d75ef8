"""Notification channels, the delivery log, Telegram linking and the bot webhook."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from engine.config import Settings
from tests.fakes import FakeSMTP, FakeTelegram
from tests.support.api import Account, Api
from tests.support.stack import (
    BOT_USERNAME,
    ScriptedRunner,
    Stack,
    engine_stack,
    message_update,
    start_update,
)

CHANNELS = "/api/v1/notifications/channels"
LINK_TOKEN = "/api/v1/notifications/telegram/link-token"
LOG = "/api/v1/notifications/log"
WEBHOOK = "/api/v1/notifications/telegram/webhook"


async def link_token(stack: Stack, account: Account) -> str:
    response = await stack.client.post(LINK_TOKEN, headers=account.headers)
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


async def channels_of(stack: Stack, account: Account) -> list[dict[str, Any]]:
    response = await stack.client.get(CHANNELS, headers=account.headers)
    assert response.status_code == 200, response.text
    return list(response.json())


# -- channels ------------------------------------------------------------------------------
async def test_channel_crud(api: Api, client: httpx.AsyncClient) -> None:
    org = await api.create_org(members=2)
    alice, bob = org.members
    created = await client.post(
        CHANNELS,
        headers=alice.headers,
        json={"type": "email", "address": "Alice@Example.COM", "priority": 5},
    )
    assert created.status_code == 201, created.text
    channel = created.json()
    assert channel["address"] == "Alice@example.com"  # the domain is normalized
    assert channel["verified"] is False and channel["enabled"] is True
    second = await client.post(
        CHANNELS, headers=alice.headers, json={"type": "email", "address": "a2@example.com"}
    )
    listed = await client.get(CHANNELS, headers=alice.headers)
    assert [c["id"] for c in listed.json()] == [channel["id"], second.json()["id"]]

    duplicate = await client.post(
        CHANNELS, headers=alice.headers, json={"type": "email", "address": "alice@example.com"}
    )
    assert duplicate.status_code == 409
    url = f"{CHANNELS}/{channel['id']}"
    patched = await client.patch(
        url, headers=alice.headers, json={"priority": -1, "enabled": False}
    )
    assert patched.status_code == 200
    assert (patched.json()["priority"], patched.json()["enabled"]) == (-1, False)

    # another organization: 404; someone else in the organization: 403
    other = await api.create_org(members=0)
    assert (await client.get(url, headers=other.admin.headers)).status_code == 404
    assert (await client.delete(url, headers=other.admin.headers)).status_code == 404
    assert (await client.get(url, headers=bob.headers)).status_code == 403
    assert (await client.patch(url, headers=bob.headers, json={"priority": 1})).status_code == 403
    assert (await client.get(CHANNELS, headers=bob.headers)).json() == []

    assert (await client.delete(url, headers=alice.headers)).status_code == 204
    assert (await client.get(url, headers=alice.headers)).status_code == 404


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"type": "email", "address": "not-an-email"}, "invalid email address"),
        ({"type": "telegram", "address": "my chat"}, "numeric chat id"),
        ({"type": "sms", "address": "+79990000000"}, None),
        ({"type": "email", "address": "a@example.com", "verified": True}, None),
        ({"type": "email", "address": "a@example.com", "priority": 10**6}, None),
    ],
)
async def test_invalid_channels_are_422(
    api: Api, client: httpx.AsyncClient, body: dict[str, Any], message: str | None
) -> None:
    org = await api.create_org(members=0)
    response = await client.post(CHANNELS, headers=org.admin.headers, json=body)
    assert response.status_code == 422, response.text
    if message:
        assert message in response.json()["detail"]


async def test_test_send_reports_the_attempt(
    stack: Stack, fake_smtp: FakeSMTP, fake_telegram: FakeTelegram
) -> None:
    org = await stack.api.create_org(members=1)
    person = org.members[0]
    email_id = await stack.add_email(person, "person@example.com")
    sent = await stack.client.post(f"{CHANNELS}/{email_id}/test", headers=person.headers)
    assert sent.status_code == 200, sent.text
    assert (sent.json()["status"], sent.json()["source"]) == ("sent", "test")
    assert fake_smtp.messages[0].subject == "Проверка уведомлений"
    assert (await channels_of(stack, person))[0]["verified"] is True

    chat = await stack.client.post(
        CHANNELS, headers=person.headers, json={"type": "telegram", "address": "31337"}
    )
    fake_telegram.fail_next(403)
    refused = await stack.client.post(
        f"{CHANNELS}/{chat.json()['id']}/test", headers=person.headers
    )
    assert refused.status_code == 200
    assert refused.json()["status"] == "permanent_error"
    assert "403" in refused.json()["error"]


async def test_test_send_without_a_configured_sender(api: Api, client: httpx.AsyncClient) -> None:
    org = await api.create_org(members=0)
    created = await client.post(
        CHANNELS, headers=org.admin.headers, json={"type": "email", "address": "a@example.com"}
    )
    tried = await client.post(f"{CHANNELS}/{created.json()['id']}/test", headers=org.admin.headers)
    assert tried.status_code == 200
    assert tried.json()["status"] == "permanent_error"
    assert tried.json()["error"] == "email is not configured on this server"


async def test_log_is_own_unless_admin(stack: Stack) -> None:
    org = await stack.api.create_org(members=2)
    alice, bob = org.members
    for account in (alice, bob):
        channel_id = await stack.add_email(account, f"{account.username}@example.com")
        await stack.client.post(f"{CHANNELS}/{channel_id}/test", headers=account.headers)
    other = await stack.api.create_org(members=1)
    other_channel = await stack.add_email(other.members[0], "x@example.com")
    await stack.client.post(f"{CHANNELS}/{other_channel}/test", headers=other.members[0].headers)

    own = await stack.client.get(LOG, headers=alice.headers)
    assert [e["user_id"] for e in own.json()] == [alice.id]
    assert (
        await stack.client.get(LOG, headers=alice.headers, params={"scope": "org"})
    ).status_code == 403
    peek = await stack.client.get(LOG, headers=alice.headers, params={"user_id": bob.id})
    assert peek.status_code == 403
    whole = await stack.client.get(LOG, headers=org.admin.headers, params={"scope": "org"})
    assert sorted(e["user_id"] for e in whole.json()) == sorted([alice.id, bob.id])
    one = await stack.client.get(LOG, headers=org.admin.headers, params={"user_id": bob.id})
    assert [e["user_id"] for e in one.json()] == [bob.id]


# -- Telegram linking ----------------------------------------------------------------------
async def test_link_token_shape(stack: Stack) -> None:
    org = await stack.api.create_org(members=1)
    response = await stack.client.post(LINK_TOKEN, headers=org.members[0].headers)
    assert response.status_code == 201
    body = response.json()
    token = body["token"]
    # ≥ 128 random bits, and fits Telegram's 64-character [A-Za-z0-9_-] start parameter
    assert re.fullmatch(r"[A-Za-z0-9_-]{22,64}", token)
    assert len(token) * 6 >= 128
    assert body["deep_link"] == f"https://t.me/{BOT_USERNAME}?start={token}"
    assert body["start_command"] == f"/start {token}"
    assert await link_token(stack, org.members[0]) != token


async def test_link_token_needs_a_configured_bot(api: Api, client: httpx.AsyncClient) -> None:
    org = await api.create_org(members=0)
    response = await client.post(LINK_TOKEN, headers=org.admin.headers)
    assert response.status_code == 409


async def test_webhook_refuses_missing_or_wrong_secret(stack: Stack) -> None:
    update = message_update(1, 100, "hello")
    assert (await stack.webhook(update, secret=None)).status_code == 401
    assert (await stack.webhook(update, secret="guess")).status_code == 403
    assert (await stack.webhook(update, secret="")).status_code == 401


async def test_webhook_is_closed_when_no_secret_is_set(client: httpx.AsyncClient) -> None:
    response = await client.post(
        WEBHOOK, json=message_update(1, 100, "hi"), headers={"X-Telegram-Bot-Api-Secret-Token": "x"}
    )
    assert response.status_code == 403


async def test_start_links_and_stop_unlinks(stack: Stack, fake_telegram: FakeTelegram) -> None:
    org = await stack.api.create_org(members=1)
    person = org.members[0]
    token = await link_token(stack, person)
    assert (await stack.webhook(start_update(10, 4242, token))).json() == {"ok": True}
    await stack.engine.telegram.drain()
    (channel,) = await channels_of(stack, person)
    assert (channel["type"], channel["address"], channel["verified"]) == ("telegram", "4242", True)
    assert fake_telegram.texts(4242)[-1].startswith("Готово")

    # the same token again, from another chat: refused
    await stack.webhook(start_update(11, 5353, token))
    await stack.engine.telegram.drain()
    assert "недействительна" in fake_telegram.texts(5353)[-1]
    assert [c["address"] for c in await channels_of(stack, person)] == ["4242"]

    await stack.webhook(message_update(12, 4242, "/stop"))
    await stack.engine.telegram.drain()
    assert await channels_of(stack, person) == []
    assert fake_telegram.texts(4242)[-1] == "Уведомления в этот чат отключены."


async def test_expired_token_is_refused(stack: Stack, fake_telegram: FakeTelegram) -> None:
    org = await stack.api.create_org(members=1)
    token = await link_token(stack, org.members[0])
    stack.shift_clock(timedelta(seconds=stack.settings.telegram_link_token_ttl_seconds + 1))
    await stack.webhook(start_update(1, 777, token))
    await stack.engine.telegram.drain()
    assert await channels_of(stack, org.members[0]) == []
    assert "недействительна" in fake_telegram.texts(777)[-1]


@pytest.mark.parametrize(
    "argument", ["", "no-such-token", "x" * 200, "bad token with spaces", "../../etc"]
)
async def test_start_with_a_bad_token_links_nothing(
    stack: Stack, fake_telegram: FakeTelegram, argument: str
) -> None:
    await stack.webhook(message_update(1, 888, f"/start {argument}".strip()))
    await stack.engine.telegram.drain()
    assert len(fake_telegram.texts(888)) == 1
    assert await stack.engine.storages.channels.telegram_owner("888") is None


async def test_ten_concurrent_starts_with_one_token_link_one_chat(
    stack: Stack, fake_telegram: FakeTelegram
) -> None:
    org = await stack.api.create_org(members=1)
    person = org.members[0]
    token = await link_token(stack, person)
    chats = list(range(9000, 9010))
    responses = await asyncio.gather(
        *(stack.webhook(start_update(100 + i, chat, token)) for i, chat in enumerate(chats))
    )
    assert {r.status_code for r in responses} == {200}
    await stack.engine.telegram.drain()
    (channel,) = await channels_of(stack, person)
    assert int(channel["address"]) in chats
    replies = [fake_telegram.texts(chat)[-1] for chat in chats]
    assert sum(r.startswith("Готово") for r in replies) == 1
    assert sum("недействительна" in r for r in replies) == 9


async def test_relinking_a_chat_moves_it_to_the_new_user(stack: Stack) -> None:
    org = await stack.api.create_org(members=2)
    first, second = org.members
    await stack.link_telegram(first, 4242, update_id=1)
    await stack.link_telegram(second, 4242, update_id=2)
    assert await channels_of(stack, first) == []
    assert [c["address"] for c in await channels_of(stack, second)] == ["4242"]


# -- the webhook's robustness --------------------------------------------------------------
@pytest.mark.parametrize(
    "payload",
    [
        b"not json at all",
        b"[1, 2, 3]",
        b'{"message": {"text": "/start x"}}',
        b'{"update_id": "12", "message": {}}',
        b'{"update_id": -5}',
        b'{"update_id": true}',
        b"\xff\xfe\x00",
    ],
)
async def test_malformed_updates_get_200_and_are_logged(
    stack: Stack, fake_telegram: FakeTelegram, caplog: pytest.LogCaptureFixture, payload: bytes
) -> None:
    with caplog.at_level(logging.WARNING, logger="engine.services.notifications.telegram_bot"):
        response = await stack.webhook(payload)
    assert response.status_code == 200 and response.json() == {"ok": True}
    assert "malformed Telegram update" in caplog.text
    await stack.engine.telegram.drain()
    assert fake_telegram.sent == []


async def test_updates_without_text_are_ignored(stack: Stack, fake_telegram: FakeTelegram) -> None:
    sticker = {"update_id": 5, "message": {"chat": {"id": 1}, "sticker": {"file_id": "x"}}}
    edited = {"update_id": 6, "edited_message": {"chat": {"id": 1}, "text": "edit"}}
    no_chat = {"update_id": 7, "message": {"text": "hello"}}
    for update in (sticker, edited, no_chat):
        assert (await stack.webhook(update)).status_code == 200
    await stack.engine.telegram.drain()
    assert fake_telegram.sent == []


async def test_duplicate_updates_are_processed_once_across_processes(
    stack_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    settings = stack_settings()
    async with engine_stack(settings) as one, engine_stack(settings) as two:
        update = message_update(777, 4242, "/stop")
        responses = await asyncio.gather(
            *(stack.webhook(update) for stack in (one, two, one, two, one, two))
        )
        assert {r.status_code for r in responses} == {200}
        await one.engine.telegram.drain()
        await two.engine.telegram.drain()
        assert fake_telegram.texts(4242) == ["Этот чат не был подключён."]
        # a redelivery later is still a repeat
        await one.webhook(update)
        await one.engine.telegram.drain()
        assert len(fake_telegram.texts(4242)) == 1


async def test_webhook_answers_before_the_agent_does(
    stack: Stack, fake_telegram: FakeTelegram
) -> None:
    org = await stack.api.create_org(members=1)
    person = org.members[0]
    await stack.link_telegram(person, 4242, update_id=1)
    fake_telegram.reset()
    runner = ScriptedRunner(answer="Отпуск: 28 дней в году", gate=asyncio.Event())
    stack.engine.use_proactive_runner(runner)
    response = await asyncio.wait_for(
        stack.webhook(message_update(2, 4242, "Сколько дней отпуска?")), timeout=5
    )
    assert response.status_code == 200
    await asyncio.wait_for(runner.started.wait(), timeout=5)
    assert fake_telegram.sent == []  # the agent is still thinking
    assert runner.gate is not None
    runner.gate.set()
    await stack.engine.telegram.drain()
    assert fake_telegram.texts(4242) == ["Отпуск: 28 дней в году"]
    (call,) = runner.calls
    assert call["role_code"] == "chu" and call["prompt"] == "Сколько дней отпуска?"
    assert str(call["user_id"]) == person.id


async def test_unlinked_chat_is_told_how_to_link(stack: Stack, fake_telegram: FakeTelegram) -> None:
    runner = ScriptedRunner()
    stack.engine.use_proactive_runner(runner)
    await stack.webhook(message_update(1, 999, "Привет"))
    await stack.engine.telegram.drain()
    assert runner.calls == []
    assert "ссылку подключения" in fake_telegram.texts(999)[0]
