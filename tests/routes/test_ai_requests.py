"""`@@role` questions without `@user` mentions: the message and its AI placeholders are
written in one statement; the rules stay those of any message."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx

from tests.support.api import Api, create_chat


async def test_placeholders_follow_the_roles_in_order_unknown_ones_skipped(
    api: Api, client: httpx.AsyncClient, database_url: str
) -> None:
    org = await api.create_org(members=2)
    alice, bob = org.members
    chat = await create_chat(client, alice, bob)
    base = f"/api/v1/chats/{chat['id']}/messages"
    first = await client.post(base, headers=alice.headers, json={"content": "вступление"})
    response = await client.post(
        base,
        headers=alice.headers,
        json={
            "content": "@@lawyer, @@nosuchrole и @@accountant: ответьте",
            "reply_to_id": first.json()["message"]["id"],
        },
    )
    assert response.status_code == 201, response.text
    posted = response.json()
    message = posted["message"]
    assert message["kind"] == "user" and message["reply_to_id"] == first.json()["message"]["id"]
    assert posted["mentioned_user_ids"] == []
    ai_ids = posted["ai_message_ids"]
    assert len(ai_ids) == 2 and ai_ids == sorted(ai_ids) and ai_ids[0] > message["id"]
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT id, role_code, kind, reply_to_id, ai_requested_by::text AS by "
            "FROM messages WHERE id = ANY($1::bigint[]) ORDER BY id",
            ai_ids,
        )
        touched = await conn.fetchval(
            "SELECT last_message_at IS NOT NULL FROM chats WHERE id = $1::uuid", chat["id"]
        )
    finally:
        await conn.close()
    assert [r["role_code"] for r in rows] == ["lawyer", "accountant"]
    assert all(r["kind"] == "ai" and r["reply_to_id"] == message["id"] for r in rows)
    assert all(r["by"] == alice.id for r in rows)
    assert touched is True


async def test_refusals_are_those_of_any_message(api: Api, client: httpx.AsyncClient) -> None:
    org = await api.create_org(members=3)
    alice, bob, carol = org.members
    chat = await create_chat(client, alice, bob)
    base = f"/api/v1/chats/{chat['id']}/messages"
    body: dict[str, Any] = {"content": "@@hr вопрос"}
    outsider = await client.post(base, headers=carol.headers, json=body)
    assert outsider.status_code == 404
    other_org = await api.create_org(members=1)
    stranger = await client.post(base, headers=other_org.members[0].headers, json=body)
    assert stranger.status_code == 404
    archived = await client.delete(f"/api/v1/chats/{chat['id']}", headers=alice.headers)
    assert archived.status_code == 204
    refused = await client.post(base, headers=bob.headers, json=body)
    assert refused.status_code == 409
    listed = await client.get(base, headers=alice.headers, params={"limit": 10})
    assert listed.json()["items"] == []
