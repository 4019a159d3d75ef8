"""Proposals of AI tool writes: made by the real executor through the scripted LLM, applied
only on an approval by someone with the right, once, and never when stale or rejected."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI

from engine.services.engine import EngineService
from tests.fakes.llm_server import Reply, ScriptedLLM
from tests.support.api import Account, Api, Org, create_chat, post_message, wait_ai_message
from tests.support.figures import record

EVENTS = "/api/v1/calendar/events"


@pytest.fixture
async def org(ai_api: Api) -> Org:
    return await ai_api.create_org(members=3)


def _engine(app: FastAPI) -> EngineService:
    engine: EngineService = app.state.engine
    return engine


async def _ask(
    client: httpx.AsyncClient,
    llm: ScriptedLLM,
    asker: Account,
    chat_id: str,
    args: dict[str, Any],
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """`asker` asks the accountant; the model calls the calendar tool with `args`."""
    llm.queue(Reply.tool_call("calendar", args), Reply.text("Предложил изменение, одобрите."))
    posted = await post_message(client, asker, chat_id, "@@accountant займись календарём")
    answer = await wait_ai_message(client, asker, chat_id, posted["ai_message_ids"][0])
    assert answer["ai_status"] == "done", answer
    listed = await client.get(
        f"/api/v1/chats/{chat_id}/messages/{answer['id']}/proposals", headers=asker.headers
    )
    assert listed.status_code == 200, listed.text
    return answer, listed.json()


CREATE = {"action": "create", "title": "Сверка с банком", "starts_at": "2026-12-20T09:00:00Z"}


async def _titled(client: httpx.AsyncClient, who: Account, title: str) -> list[dict[str, Any]]:
    events = await client.get(EVENTS, headers=who.headers)
    return [e for e in events.json() if e["title"] == title]


async def test_a_write_becomes_a_pending_proposal_and_changes_nothing(
    ai_api: Api, ai_app: FastAPI, org: Org, llm: ScriptedLLM
) -> None:
    client = ai_api.client
    alice, bob, _ = org.members
    chat = await create_chat(client, alice, bob)
    async with _engine(ai_app).bus.subscribe(UUID(chat["id"])) as subscription:
        queue = subscription.queue
        answer, (proposal,) = await _ask(client, llm, alice, chat["id"], CREATE)
        await client.post(
            f"/api/v1/chats/{chat['id']}/proposals/{proposal['id']}/reject", headers=bob.headers
        )
        seen = []
        while not queue.empty():
            event = queue.get_nowait()
            if event.type.startswith("proposal."):
                seen.append((event.type, event.data["id"], event.data["status"]))
    assert seen == [
        ("proposal.created", proposal["id"], "pending"),
        ("proposal.updated", proposal["id"], "rejected"),
    ]
    assert proposal["status"] == "pending"
    assert proposal["message_id"] == answer["id"]
    assert proposal["payload"]["event"]["title"] == "Сверка с банком"
    assert "ждёт одобрения" in answer["meta"]["tool_calls"][0]["result"]
    assert await _titled(client, alice, "Сверка с банком") == []


async def test_approving_at_once_applies_once(ai_api: Api, org: Org, llm: ScriptedLLM) -> None:
    client = ai_api.client
    alice, bob, _ = org.members
    chat = await create_chat(client, alice, bob)
    _, (proposal,) = await _ask(client, llm, alice, chat["id"], CREATE)
    url = f"/api/v1/chats/{chat['id']}/proposals/{proposal['id']}/approve"
    answers = await asyncio.gather(*(client.post(url, headers=bob.headers) for _ in range(6)))
    assert [a.status_code for a in answers] == [200] * 6, [a.text for a in answers]
    assert {a.json()["status"] for a in answers} == {"applied"}
    first = answers[0]
    again = await client.post(url, headers=alice.headers)
    assert again.json()["status"] == "applied"
    # carried out as the approver: bob owns the one event
    (event,) = await _titled(client, bob, "Сверка с банком")
    assert event["owner_id"] == bob.id
    assert first.json()["result"] == {"event_id": event["id"]}
    audit = await client.get(
        "/api/v1/audit",
        headers=org.admin.headers,
        params={"action": "proposal.approved", "target_id": proposal["id"]},
    )
    assert [e["actor_id"] for e in audit.json()["items"]] == [bob.id]
    record(
        "proposals: one proposal approved 6 times at once, then once more",
        approvals=7,
        applied=1,
        events_created=1,
        audit_rows=1,
    )


async def test_rejected_proposal_is_never_applied(ai_api: Api, org: Org, llm: ScriptedLLM) -> None:
    client = ai_api.client
    alice, bob, _ = org.members
    chat = await create_chat(client, alice, bob)
    _, (proposal,) = await _ask(client, llm, alice, chat["id"], CREATE)
    base = f"/api/v1/chats/{chat['id']}/proposals/{proposal['id']}"
    rejected = await client.post(f"{base}/reject", headers=bob.headers)
    assert rejected.json()["status"] == "rejected"
    approved = await client.post(f"{base}/approve", headers=alice.headers)
    assert approved.status_code == 409, approved.text
    assert await _titled(client, alice, "Сверка с банком") == []


async def test_rejecting_the_answer_rejects_its_pending_proposals(
    ai_api: Api, org: Org, llm: ScriptedLLM
) -> None:
    client = ai_api.client
    alice, bob, _ = org.members
    chat = await create_chat(client, alice, bob)
    answer, (proposal,) = await _ask(client, llm, alice, chat["id"], CREATE)
    rejected = await client.post(
        f"/api/v1/chats/{chat['id']}/messages/{answer['id']}/reject", headers=bob.headers
    )
    assert rejected.status_code == 200, rejected.text
    listed = await client.get(
        f"/api/v1/chats/{chat['id']}/messages/{answer['id']}/proposals", headers=bob.headers
    )
    (after,) = listed.json()
    assert after["status"] == "rejected"
    assert after["status_reason"] == "the AI answer was rejected"
    approve = await client.post(
        f"/api/v1/chats/{chat['id']}/proposals/{proposal['id']}/approve", headers=alice.headers
    )
    assert approve.status_code == 409
    assert await _titled(client, alice, "Сверка с банком") == []
    audit = await client.get(
        "/api/v1/audit", headers=org.admin.headers, params={"target_id": str(answer["id"])}
    )
    assert [e["action"] for e in audit.json()["items"]] == ["message.rejected"]
    audit = await client.get(
        "/api/v1/audit", headers=org.admin.headers, params={"target_id": proposal["id"]}
    )
    assert [e["action"] for e in audit.json()["items"]] == ["proposal.rejected"]


async def test_a_write_refused_when_applied_marks_the_proposal_failed(
    ai_api: Api, org: Org, llm: ScriptedLLM
) -> None:
    client = ai_api.client
    alice, bob, _ = org.members
    chat = await create_chat(client, alice, bob)
    _, (proposal,) = await _ask(
        client, llm, alice, chat["id"], {**CREATE, "timezone": "Mars/Olympus_Mons"}
    )
    url = f"/api/v1/chats/{chat['id']}/proposals/{proposal['id']}/approve"
    refused = await client.post(url, headers=bob.headers)
    assert refused.status_code == 422, refused.text
    assert "изменение не удалось применить" in refused.json()["detail"]
    listed = await client.get(
        f"/api/v1/chats/{chat['id']}/messages/{proposal['message_id']}/proposals",
        headers=bob.headers,
    )
    (failed,) = listed.json()
    assert failed["status"] == "failed" and failed["status_reason"]
    assert (await client.post(url, headers=bob.headers)).status_code == 409


async def test_other_org_and_non_members_get_404(ai_api: Api, org: Org, llm: ScriptedLLM) -> None:
    client = ai_api.client
    alice, bob, carol = org.members
    chat = await create_chat(client, alice, bob)
    answer, (proposal,) = await _ask(client, llm, alice, chat["id"], CREATE)
    other = await ai_api.create_org(members=1)
    stranger = other.members[0]
    for who in (stranger, other.admin, carol):  # carol: same org, not in the chat
        for url in (
            f"/api/v1/chats/{chat['id']}/proposals/{proposal['id']}/approve",
            f"/api/v1/chats/{chat['id']}/proposals/{proposal['id']}/reject",
            f"/api/v1/proposals/{proposal['id']}/approve",
            f"/api/v1/chats/{chat['id']}/messages/{answer['id']}/proposals",
        ):
            method = client.get if url.endswith("/proposals") else client.post
            response = await method(url, headers=who.headers)
            assert response.status_code == 404, (who.username, url, response.text)
    # B's own chat id does not reach A's proposal either
    own = await create_chat(client, stranger, other.admin)
    response = await client.post(
        f"/api/v1/chats/{own['id']}/proposals/{proposal['id']}/approve", headers=stranger.headers
    )
    assert response.status_code == 404
    listed = await client.get(
        f"/api/v1/chats/{chat['id']}/messages/{answer['id']}/proposals", headers=alice.headers
    )
    assert listed.json()[0]["status"] == "pending"


async def _alice_event(client: httpx.AsyncClient, alice: Account) -> dict[str, Any]:
    created = await client.post(
        EVENTS,
        headers=alice.headers,
        json={"title": "Планёрка", "starts_at": "2026-12-21T07:00:00Z"},
    )
    assert created.status_code == 201, created.text
    event: dict[str, Any] = created.json()
    return event


async def test_a_member_without_the_right_cannot_approve(
    ai_api: Api, org: Org, llm: ScriptedLLM
) -> None:
    client = ai_api.client
    alice, bob, _ = org.members
    event = await _alice_event(client, alice)
    chat = await create_chat(client, alice, bob)
    _, (proposal,) = await _ask(
        client, llm, alice, chat["id"], {"action": "delete", "event_id": event["id"]}
    )
    assert proposal["target_version"] is not None
    url = f"/api/v1/chats/{chat['id']}/proposals/{proposal['id']}/approve"
    refused = await client.post(url, headers=bob.headers)  # not the owner, not an admin
    assert refused.status_code == 403, refused.text
    kept = await client.get(f"{EVENTS}/{event['id']}", headers=alice.headers)
    assert kept.status_code == 200
    approved = await client.post(url, headers=alice.headers)
    assert approved.json()["status"] == "applied", approved.text
    gone = await client.get(f"{EVENTS}/{event['id']}", headers=alice.headers)
    assert gone.status_code == 404


async def test_a_target_changed_meanwhile_is_refused_with_the_reason(
    ai_api: Api, org: Org, llm: ScriptedLLM
) -> None:
    client = ai_api.client
    alice, bob, _ = org.members
    event = await _alice_event(client, alice)
    chat = await create_chat(client, alice, bob)
    _, (proposal,) = await _ask(
        client,
        llm,
        alice,
        chat["id"],
        {"action": "update", "event_id": event["id"], "title": "Планёрка (перенос)"},
    )
    assert proposal["payload"]["before"] == {"title": "Планёрка"}
    patched = await client.patch(
        f"{EVENTS}/{event['id']}", headers=alice.headers, json={"description": "повестка"}
    )
    assert patched.status_code == 200, patched.text
    url = f"/api/v1/chats/{chat['id']}/proposals/{proposal['id']}/approve"
    refused = await client.post(url, headers=alice.headers)
    assert refused.status_code == 409, refused.text
    assert "изменено после предложения" in refused.json()["detail"]
    current = await client.get(f"{EVENTS}/{event['id']}", headers=alice.headers)
    assert current.json()["title"] == "Планёрка"
    listed = await client.get(
        f"/api/v1/chats/{chat['id']}/messages/{proposal['message_id']}/proposals",
        headers=alice.headers,
    )
    assert listed.json()[0]["status"] == "conflict"

    # a target deleted meanwhile: refused as well
    _, (second,) = await _ask(
        client, llm, alice, chat["id"], {"action": "update", "event_id": event["id"], "title": "X"}
    )
    await client.delete(f"{EVENTS}/{event['id']}", headers=alice.headers)
    refused = await client.post(
        f"/api/v1/chats/{chat['id']}/proposals/{second['id']}/approve", headers=alice.headers
    )
    assert refused.status_code == 409
    assert "удалено" in refused.json()["detail"]


async def test_a_role_may_declare_calendar_writes_free_of_approval(
    ai_api: Api, ai_app: FastAPI, org: Org, llm: ScriptedLLM
) -> None:
    client = ai_api.client
    alice, bob, _ = org.members
    await (
        _engine(ai_app)
        .db.tenant(UUID(org.id))
        .execute(
            'UPDATE roles SET config = config || \'{"write_approval": {"calendar": false}}\' '
            "WHERE org_id = $1 AND code = 'accountant'",
            UUID(org.id),
        )
    )
    chat = await create_chat(client, alice, bob)
    answer, proposals = await _ask(client, llm, alice, chat["id"], CREATE)
    assert proposals == []
    assert answer["meta"]["tool_calls"][0]["result"].startswith("Событие создано")
    assert len(await _titled(client, alice, "Сверка с банком")) == 1


async def test_proactive_runs_only_propose(
    ai_api: Api, ai_app: FastAPI, org: Org, llm: ScriptedLLM
) -> None:
    """Even a role whose chat writes need no approval only proposes when run proactively;
    the proposal waits for the person the run acted for, and no one else."""
    client = ai_api.client
    alice, bob, _ = org.members
    engine = _engine(ai_app)
    await engine.db.tenant(UUID(org.id)).execute(
        'UPDATE roles SET config = config || \'{"write_approval": {"calendar": false}}\' '
        "WHERE org_id = $1 AND code = 'accountant'",
        UUID(org.id),
    )
    llm.queue(Reply.tool_call("calendar", CREATE), Reply.text("Предложил событие."))
    outcome = await engine.proactive_runner(
        org_id=UUID(org.id),
        user_id=UUID(alice.id),
        role_code="accountant",
        prompt="запланируй сверку",
        context="",
    )
    assert outcome.text == "Предложил событие."
    assert await _titled(client, alice, "Сверка с банком") == []
    mine = await client.get("/api/v1/proposals?status=pending", headers=alice.headers)
    (proposal,) = mine.json()
    assert proposal["chat_id"] is None and proposal["requested_by"] == alice.id
    assert (await client.get("/api/v1/proposals", headers=bob.headers)).json() == []
    url = f"/api/v1/proposals/{proposal['id']}/approve"
    assert (await client.post(url, headers=bob.headers)).status_code == 404
    assert (await client.post(url, headers=org.admin.headers)).status_code == 404
    approved = await client.post(url, headers=alice.headers)
    assert approved.json()["status"] == "applied", approved.text
    assert len(await _titled(client, alice, "Сверка с банком")) == 1
