"""The `calendar` tool in a ReAct run proposes real events (applied when approved) and finds
them, as the asking user."""

from __future__ import annotations

import httpx
import pytest

from tests.fakes.llm_server import Reply, ScriptedLLM
from tests.support.api import Api, Org, create_chat, post_message, wait_ai_message


@pytest.fixture
async def org(ai_api: Api) -> Org:
    return await ai_api.create_org(members=2)


async def test_react_run_creates_a_real_event(ai_api: Api, org: Org, llm: ScriptedLLM) -> None:
    client: httpx.AsyncClient = ai_api.client
    alice, bob = org.members
    llm.queue(
        Reply.tool_call(
            "calendar",
            {
                "action": "create",
                "title": "Сдать декларацию по НДС",
                "starts_at": "2026-12-25T10:00:00+03:00",
                "timezone": "Europe/Moscow",
                "org_id": "00000000-0000-0000-0000-000000000000",
            },
        ),
        Reply.text("Напоминание создано на 25 декабря."),
        Reply.tool_call(
            "calendar",
            {
                "action": "list",
                "range_start": "2026-12-24T00:00:00Z",
                "range_end": "2026-12-26T00:00:00Z",
            },
        ),
        Reply.text("25 декабря: сдать декларацию."),
    )
    chat = await create_chat(client, alice, bob)
    posted = await post_message(client, alice, chat["id"], "@@accountant напомни сдать НДС 25.12")
    answer = await wait_ai_message(client, bob, chat["id"], posted["ai_message_ids"][0])
    assert answer["ai_status"] == "done", answer
    assert answer["content"] == "Напоминание создано на 25 декабря."
    assert answer["meta"]["tool_calls"][0]["result"].startswith("Изменение НЕ выполнено")

    proposals = await client.get(
        f"/api/v1/chats/{chat['id']}/messages/{answer['id']}/proposals", headers=alice.headers
    )
    (proposal,) = proposals.json()
    approved = await client.post(
        f"/api/v1/chats/{chat['id']}/proposals/{proposal['id']}/approve", headers=alice.headers
    )
    assert approved.json()["status"] == "applied", approved.text

    events = await client.get("/api/v1/calendar/events", headers=alice.headers)
    created = [e for e in events.json() if e["title"] == "Сдать декларацию по НДС"]
    assert len(created) == 1, events.text
    assert created[0]["owner_id"] == alice.id
    assert created[0]["starts_at"].startswith("2026-12-25T07:00:00")

    # events are visible to their owner and participants: alice asks about her own
    second = await post_message(client, alice, chat["id"], "@@accountant что у меня 25-го?")
    listing = await wait_ai_message(client, bob, chat["id"], second["ai_message_ids"][0])
    assert "Сдать декларацию по НДС" in listing["meta"]["tool_calls"][0]["result"]
    assert "calendar" in llm.requests[0].tools
