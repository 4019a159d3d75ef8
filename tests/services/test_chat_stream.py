"""Live chat streams over real HTTP: they end (`access.revoked`, then close) within a second
of access being taken away, on whichever engine process holds them, and when their access
token expires; a subscriber that falls behind is told to resync instead of losing events."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI

from engine.models.access import RevocationReason
from engine.services.chats.chat_stream import StreamGrant
from engine.services.chats.events import QUEUE_LIMIT, ChatEvent, EventType
from tests.conftest import SYSTEM_ADMIN_PASSWORD, running_app
from tests.fakes._uvicorn import UvicornRunner
from tests.fakes.waiting import wait_for
from tests.support.api import Account, Api, Org, create_chat, post_message
from tests.support.figures import record
from tests.support.sse import EventStream

REVOKED_WITHIN = 1.0


@pytest.fixture(scope="module")
async def live_url(app: FastAPI) -> AsyncIterator[str]:
    server = UvicornRunner(app)
    port = await server.start()
    yield f"http://127.0.0.1:{port}"
    await server.stop()


def events_path(chat: dict[str, Any]) -> str:
    return f"/api/v1/chats/{chat['id']}/events"


Revoke = Callable[[httpx.AsyncClient, Api, Org, Account, dict[str, Any]], Awaitable[None]]


async def _remove_member(
    client: httpx.AsyncClient, api: Api, org: Org, who: Account, chat: dict[str, Any]
) -> None:
    url = f"/api/v1/chats/{chat['id']}/members/{who.id}"
    assert (await client.delete(url, headers=org.admin.headers)).status_code == 204


async def _deactivate_user(
    client: httpx.AsyncClient, api: Api, org: Org, who: Account, chat: dict[str, Any]
) -> None:
    url = f"/api/v1/users/{who.id}/deactivate"
    assert (await client.post(url, headers=org.admin.headers)).status_code == 200


async def _delete_user(
    client: httpx.AsyncClient, api: Api, org: Org, who: Account, chat: dict[str, Any]
) -> None:
    url = f"/api/v1/users/{who.id}"
    assert (await client.delete(url, headers=org.admin.headers)).status_code == 204


async def _deactivate_org(
    client: httpx.AsyncClient, api: Api, org: Org, who: Account, chat: dict[str, Any]
) -> None:
    root = await api.system_admin()
    response = await client.patch(
        f"/api/v1/organizations/{org.id}", headers=root.headers, json={"is_active": False}
    )
    assert response.status_code == 200, response.text


async def _reset_password(
    client: httpx.AsyncClient, api: Api, org: Org, who: Account, chat: dict[str, Any]
) -> None:
    response = await client.post(
        f"/api/v1/users/{who.id}/reset-password",
        headers=org.admin.headers,
        json={"new_password": "brand-new-password-1"},
    )
    assert response.status_code == 204, response.text


async def _change_own_password(
    client: httpx.AsyncClient, api: Api, org: Org, who: Account, chat: dict[str, Any]
) -> None:
    response = await client.post(
        "/api/v1/auth/password",
        headers=who.headers,
        json={"current_password": who.password, "new_password": "brand-new-password-2"},
    )
    assert response.status_code == 204, response.text


async def _logout(
    client: httpx.AsyncClient, api: Api, org: Org, who: Account, chat: dict[str, Any]
) -> None:
    response = await client.post("/api/v1/auth/logout", json={"refresh_token": who.refresh_token})
    assert response.status_code == 204


CAUSES: list[tuple[Revoke, RevocationReason]] = [
    (_remove_member, RevocationReason.MEMBER_REMOVED),
    (_deactivate_user, RevocationReason.USER_DEACTIVATED),
    (_delete_user, RevocationReason.USER_DEACTIVATED),
    (_deactivate_org, RevocationReason.ORG_DEACTIVATED),
    (_reset_password, RevocationReason.PASSWORD_RESET),
    (_change_own_password, RevocationReason.PASSWORD_RESET),
    (_logout, RevocationReason.LOGGED_OUT),
]


async def assert_revoked(stream: EventStream, reason: RevocationReason, since: float) -> float:
    closed_at = await stream.wait_closed(timeout=5)
    assert stream.events[-1] == ("access.revoked", {"reason": reason.value}), stream.events[-3:]
    assert closed_at - since <= REVOKED_WITHIN, f"ended {closed_at - since:.3f}s after"
    return closed_at - since


@pytest.mark.parametrize(("revoke", "reason"), CAUSES, ids=[c[0].__name__[1:] for c in CAUSES])
async def test_stream_ends_within_a_second_of_revocation(
    api: Api, client: httpx.AsyncClient, live_url: str, revoke: Revoke, reason: RevocationReason
) -> None:
    org = await api.create_org(members=2)
    alice, bob = org.members
    chat = await create_chat(client, org.admin, alice, bob)
    async with (
        EventStream(live_url, events_path(chat), bob.headers) as bobs,
        EventStream(live_url, events_path(chat), alice.headers) as alices,
    ):
        before = await post_message(client, alice, chat["id"], "до")
        await bobs.wait(lambda: bool(bobs.of_type("message.created")))
        started = time.monotonic()
        await revoke(client, api, org, bob, chat)
        took = await assert_revoked(bobs, reason, started)
        assert [m["id"] for m in bobs.of_type("message.created")] == [before["message"]["id"]]
        if reason is not RevocationReason.ORG_DEACTIVATED:
            # the others' streams go on
            after = await post_message(client, alice, chat["id"], "после")
            await alices.wait(
                lambda: (
                    after["message"]["id"] in [m["id"] for m in alices.of_type("message.created")]
                )
            )
            assert alices.closed_at is None
        else:
            await assert_revoked(alices, reason, started)
    record(f"stream end after {reason.value}", seconds=round(took, 3))


async def test_logout_ends_only_that_sessions_streams(
    api: Api, client: httpx.AsyncClient, live_url: str
) -> None:
    org = await api.create_org(members=1)
    bob = org.members[0]
    other_session = await api.account(bob.username, bob.password, organization=org.slug)
    chat = await create_chat(client, bob)
    other_chat = await create_chat(client, bob, title="второй")
    async with (
        EventStream(live_url, events_path(chat), bob.headers) as first,
        EventStream(live_url, events_path(other_chat), bob.headers) as first_elsewhere,
        EventStream(live_url, events_path(chat), other_session.headers) as second,
    ):
        started = time.monotonic()
        await _logout(client, api, org, bob, chat)
        await assert_revoked(first, RevocationReason.LOGGED_OUT, started)
        await assert_revoked(first_elsewhere, RevocationReason.LOGGED_OUT, started)
        posted = await post_message(client, other_session, chat["id"], "ещё здесь")
        await second.wait(lambda: bool(second.of_type("message.created")))
        assert second.of_type("message.created")[0]["id"] == posted["message"]["id"]
        assert second.closed_at is None


async def test_a_refreshed_token_keeps_its_session(
    api: Api, client: httpx.AsyncClient, live_url: str
) -> None:
    """The web client refreshes silently: a stream opened with the refreshed access token
    still ends when the session logs out (with its latest refresh token)."""
    org = await api.create_org(members=1)
    bob = org.members[0]
    chat = await create_chat(client, bob)
    refreshed = await client.post("/api/v1/auth/refresh", json={"refresh_token": bob.refresh_token})
    assert refreshed.status_code == 200
    tokens = refreshed.json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    async with EventStream(live_url, events_path(chat), headers) as stream:
        started = time.monotonic()
        response = await client.post(
            "/api/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]}
        )
        assert response.status_code == 204
        await assert_revoked(stream, RevocationReason.LOGGED_OUT, started)


async def test_removal_from_one_chat_leaves_other_chats_streaming(
    api: Api, client: httpx.AsyncClient, live_url: str
) -> None:
    org = await api.create_org(members=2)
    alice, bob = org.members
    left = await create_chat(client, org.admin, alice, bob, title="покину")
    stays = await create_chat(client, org.admin, alice, bob, title="останусь")
    async with (
        EventStream(live_url, events_path(left), bob.headers) as leaving,
        EventStream(live_url, events_path(stays), bob.headers) as staying,
    ):
        started = time.monotonic()
        await _remove_member(client, api, org, bob, left)
        await assert_revoked(leaving, RevocationReason.MEMBER_REMOVED, started)
        await post_message(client, alice, stays["id"], "ты всё ещё здесь")
        await staying.wait(lambda: bool(staying.of_type("message.created")))
        assert staying.closed_at is None


async def test_a_stream_opened_after_access_was_lost_is_refused(
    api: Api, client: httpx.AsyncClient, live_url: str
) -> None:
    org = await api.create_org(members=2)
    alice, bob = org.members
    chat = await create_chat(client, org.admin, alice, bob)
    await _remove_member(client, api, org, bob, chat)
    async with httpx.AsyncClient(base_url=live_url) as raw:
        assert (await raw.get(events_path(chat), headers=bob.headers)).status_code == 404
    await _deactivate_user(client, api, org, alice, chat)
    async with httpx.AsyncClient(base_url=live_url) as raw:
        assert (await raw.get(events_path(chat), headers=alice.headers)).status_code == 401


async def test_revocation_reaches_a_stream_on_another_engine_process(make_settings) -> None:  # type: ignore[no-untyped-def]
    async with (
        running_app(make_settings()) as (app_a, client_a),
        running_app(make_settings()) as (app_b, _),
    ):
        for engine in (app_a.state.engine, app_b.state.engine):
            await wait_for(lambda engine=engine: engine.relay.connected.is_set(), timeout=5)
        server_b = UvicornRunner(app_b)
        url_b = f"http://127.0.0.1:{await server_b.start()}"
        try:
            api = Api(client_a, SYSTEM_ADMIN_PASSWORD)
            org = await api.create_org(members=2)
            alice, bob = org.members
            chat = await create_chat(client_a, org.admin, alice, bob)
            other_session = await api.account(alice.username, alice.password, org.slug)
            async with (
                EventStream(url_b, events_path(chat), bob.headers) as bobs,
                EventStream(url_b, events_path(chat), alice.headers) as alices,
                EventStream(url_b, events_path(chat), other_session.headers) as alices_other,
            ):
                started = time.monotonic()
                await _remove_member(client_a, api, org, bob, chat)  # through process A
                removed = await assert_revoked(bobs, RevocationReason.MEMBER_REMOVED, started)
                started = time.monotonic()
                await _logout(client_a, api, org, alice, chat)
                logged_out = await assert_revoked(alices, RevocationReason.LOGGED_OUT, started)
                posted = await post_message(client_a, other_session, chat["id"], "через A")
                await alices_other.wait(lambda: bool(alices_other.of_type("message.created")))
                assert alices_other.of_type("message.created")[0]["id"] == posted["message"]["id"]
                started = time.monotonic()
                await _deactivate_org(client_a, api, org, alice, chat)
                await assert_revoked(alices_other, RevocationReason.ORG_DEACTIVATED, started)
        finally:
            await server_b.stop()
    record(
        "stream end on another process",
        member_removed_s=round(removed, 3),
        logged_out_s=round(logged_out, 3),
    )


async def test_stream_ends_when_its_access_token_expires(make_settings) -> None:  # type: ignore[no-untyped-def]
    ttl = 2
    async with running_app(make_settings(access_token_ttl_seconds=ttl)) as (app, client):
        server = UvicornRunner(app)
        url = f"http://127.0.0.1:{await server.start()}"
        try:
            api = Api(client, SYSTEM_ADMIN_PASSWORD)
            org = await api.create_org(members=1)
            bob = org.members[0]
            chat = await create_chat(client, bob)
            bob = await api.account(bob.username, bob.password, org.slug)  # a fresh token
            expires = app.state.engine.auth.codec.decode(bob.access_token, expected_type="access")
            async with EventStream(url, events_path(chat), bob.headers) as stream:
                closed = await stream.wait_closed(timeout=ttl + 3)
                wall_at_close = time.time() - (time.monotonic() - closed)
            assert stream.events[-1] == ("access.revoked", {"reason": "token_expired"})
            late = wall_at_close - expires.expires_at.timestamp()
            assert -0.05 <= late <= REVOKED_WITHIN, late
            # the client refreshes and reconnects, replaying from its last id
            posted = await post_message(
                client,
                await_fresh := await api.account(bob.username, bob.password, org.slug),
                chat["id"],
                "после продления",
            )
            headers = {**await_fresh.headers, "Last-Event-ID": "0"}
            async with EventStream(url, events_path(chat), headers) as again:
                await again.wait(lambda: bool(again.of_type("message.created")))
            assert again.of_type("message.created")[0]["id"] == posted["message"]["id"]
        finally:
            await server.stop()
    record("stream end after token expiry", seconds_after_exp=round(late, 3))


async def test_a_subscriber_that_falls_behind_gets_resync(
    api: Api, app: FastAPI, client: httpx.AsyncClient, live_url: str
) -> None:
    engine = app.state.engine
    org = await api.create_org(members=2)
    alice, bob = org.members
    chat = await create_chat(client, alice, bob)
    chat_id = UUID(chat["id"])
    async with EventStream(live_url, events_path(chat), bob.headers) as stream:
        seen = await post_message(client, alice, chat["id"], "увидел")
        await stream.wait(lambda: bool(stream.of_type("message.created")))
        missed = [
            await engine.storages.messages.insert_by_member(
                UUID(org.id), chat_id, UUID(alice.id), f"пропущено {i}", None
            )
            for i in range(3)
        ]
        # a burst faster than the stream can send: its queue fills, the rest is not queued
        for index in range(QUEUE_LIMIT):
            engine.bus.publish(
                chat_id, ChatEvent(EventType.AI_TOKEN, {"message_id": 1, "delta": str(index)})
            )
        for message in missed:
            engine.bus.publish(chat_id, ChatEvent(EventType.MESSAGE_CREATED, message=message))
        await stream.wait(lambda: bool(stream.of_type("resync")), timeout=10)
        tokens = stream.of_type("ai.token")
        assert [t["delta"] for t in tokens] == [str(i) for i in range(QUEUE_LIMIT)]
        assert stream.events[-1] == ("resync", {"after_id": seen["message"]["id"]})
        # the stream goes on with live events
        live = await post_message(client, alice, chat["id"], "дальше вживую")
        await stream.wait(
            lambda: live["message"]["id"] in [m["id"] for m in stream.of_type("message.created")]
        )
        assert stream.closed_at is None
    # re-reading after the resync id finds every message the stream did not send
    page = await client.get(
        f"/api/v1/chats/{chat['id']}/messages",
        headers=bob.headers,
        params={"after_id": seen["message"]["id"]},
    )
    reread = [m["id"] for m in page.json()["items"]]
    assert reread == [m.id for m in missed if m is not None] + [live["message"]["id"]]


async def test_events_already_waiting_go_out_as_one_batch(
    api: Api, app: FastAPI, client: httpx.AsyncClient
) -> None:
    """A model that answers quickly publishes many tokens in one turn of the event loop;
    the stream hands them on together (the route writes a batch with one socket write)."""
    engine = app.state.engine
    org = await api.create_org(members=2)
    alice, bob = org.members
    chat = await create_chat(client, alice, bob)
    chat_id = UUID(chat["id"])
    user = await engine.storages.users.get_active_for_token(UUID(org.id), UUID(bob.id))
    grant = StreamGrant(user, chat_id, None, time.time() + 60)

    async def connected() -> bool:
        return False

    events = engine.streams.events(grant, after_id=None, is_disconnected=connected)
    try:
        assert [e.type for e in await anext(events)] == [EventType.READY]
        waiting = asyncio.ensure_future(anext(events))
        await asyncio.sleep(0)  # the stream now waits for live events
        for index in range(40):
            engine.bus.publish(
                chat_id, ChatEvent(EventType.AI_TOKEN, {"message_id": 1, "delta": str(index)})
            )
        engine.bus.publish(chat_id, ChatEvent(EventType.MESSAGE_STATUS, {"id": 1}))
        batch = await asyncio.wait_for(waiting, timeout=5)
        assert [e.data.get("delta") for e in batch[:-1]] == [str(i) for i in range(40)]
        assert batch[-1].type is EventType.MESSAGE_STATUS
        # alone, an event leaves alone
        waiting = asyncio.ensure_future(anext(events))
        await asyncio.sleep(0)
        engine.bus.publish(chat_id, ChatEvent(EventType.MESSAGE_STATUS, {"id": 2}))
        assert [e.data for e in await asyncio.wait_for(waiting, timeout=5)] == [{"id": 2}]
    finally:
        await events.aclose()
