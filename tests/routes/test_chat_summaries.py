"""What the web client reads off chats: unresolved mentions, reply checks, last message,
unread counts and read markers."""

from __future__ import annotations

import httpx
import pytest

from tests.support.api import Api, Org, create_chat, post_message


@pytest.fixture
async def org(api: Api) -> Org:
    return await api.create_org(members=3)


async def test_unresolved_mentions_are_listed_and_the_message_is_posted(
    org: Org, client: httpx.AsyncClient
) -> None:
    alice, bob, carol = org.members
    chat = await create_chat(client, alice, bob)
    posted = await post_message(
        client,
        alice,
        chat["id"],
        f"@{bob.username} @{carol.username} @nobody @{alice.username} @@pirate",
    )
    assert posted["mentioned_user_ids"] == [bob.id]
    assert posted["unresolved_mentions"] == [
        {"text": f"@{carol.username}", "kind": "user", "reason": "not_member"},
        {"text": "@nobody", "kind": "user", "reason": "unknown_user"},
        {"text": "@@pirate", "kind": "role", "reason": "unknown_role"},
    ]
    page = await client.get(f"/api/v1/chats/{chat['id']}/messages", headers=bob.headers)
    assert page.json()["items"][0]["id"] == posted["message"]["id"]


async def test_unknown_role_beside_a_known_one_is_unresolved(
    org: Org, client: httpx.AsyncClient
) -> None:
    alice, bob, _ = org.members
    chat = await create_chat(client, alice, bob)
    posted = await post_message(client, alice, chat["id"], "@@lawyer и @@pirate: договор?")
    assert len(posted["ai_message_ids"]) == 1
    assert posted["unresolved_mentions"] == [
        {"text": "@@pirate", "kind": "role", "reason": "unknown_role"}
    ]
    plain = await post_message(client, alice, chat["id"], f"@{bob.username} привет")
    assert plain["unresolved_mentions"] == []
    assert (await post_message(client, alice, chat["id"], "без упоминаний"))[
        "unresolved_mentions"
    ] == []


@pytest.mark.parametrize("mention", ["", "@@lawyer ", "@user2 "])
async def test_reply_to_a_message_outside_the_chat_is_422(
    org: Org, client: httpx.AsyncClient, mention: str
) -> None:
    """Every posting path (plain, AI request, user mention) checks the reply target."""
    alice, bob, _ = org.members
    chat = await create_chat(client, alice, bob)
    other = await create_chat(client, alice, bob, title="другой")
    elsewhere = (await post_message(client, alice, other["id"], "там"))["message"]["id"]
    here = (await post_message(client, alice, chat["id"], "здесь"))["message"]["id"]
    deleted = (await post_message(client, alice, chat["id"], "удалю"))["message"]["id"]
    url = f"/api/v1/chats/{chat['id']}/messages"
    assert (await client.delete(f"{url}/{deleted}", headers=alice.headers)).status_code == 204
    for bad in (elsewhere, deleted, 2**62):
        response = await client.post(
            url, headers=bob.headers, json={"content": f"{mention}ответ", "reply_to_id": bad}
        )
        assert response.status_code == 422, (bad, response.text)
        assert "reply_to_id" in response.json()["detail"]
    good = await client.post(
        url, headers=bob.headers, json={"content": f"{mention}ответ", "reply_to_id": here}
    )
    assert good.status_code == 201 and good.json()["message"]["reply_to_id"] == here
    page = (await client.get(url, headers=bob.headers, params={"limit": 200})).json()
    assert [m["content"] for m in page["items"] if m["author_id"] == bob.id] == [f"{mention}ответ"]


async def test_a_non_member_replying_is_still_404(org: Org, client: httpx.AsyncClient) -> None:
    alice, bob, carol = org.members
    chat = await create_chat(client, alice, bob)
    here = (await post_message(client, alice, chat["id"], "здесь"))["message"]["id"]
    response = await client.post(
        f"/api/v1/chats/{chat['id']}/messages",
        headers=carol.headers,
        json={"content": "влезу", "reply_to_id": here},
    )
    assert response.status_code == 404


async def test_chat_list_shows_last_message_and_unread_counts(
    org: Org, client: httpx.AsyncClient
) -> None:
    alice, bob, _ = org.members
    quiet = await create_chat(client, alice, bob, title="тихий")
    busy = await create_chat(client, alice, bob, title="живой")
    fresh = await create_chat(client, alice, bob, title="пустой")
    await post_message(client, alice, quiet["id"], "старое")
    first = await post_message(client, alice, busy["id"], "раз")
    await post_message(client, bob, busy["id"], "ответ боба")
    last = await post_message(client, alice, busy["id"], "д" * 300)
    deleted = await post_message(client, alice, busy["id"], "стёрто")
    url = f"/api/v1/chats/{busy['id']}/messages/{deleted['message']['id']}"
    assert (await client.delete(url, headers=alice.headers)).status_code == 204

    listed = (await client.get("/api/v1/chats", headers=bob.headers)).json()
    # the newest activity first; a chat with no message sits by its creation time
    assert [c["id"] for c in listed] == [busy["id"], quiet["id"], fresh["id"]]
    by_id = {c["id"]: c for c in listed}
    assert by_id[busy["id"]]["unread_count"] == 2  # bob's own and the deleted one do not count
    assert by_id[busy["id"]]["last_read_message_id"] is None
    preview = by_id[busy["id"]]["last_message"]
    assert preview["id"] == last["message"]["id"] and preview["content"] == "д" * 200
    assert preview["author_id"] == alice.id and preview["kind"] == "user"
    assert preview["role_code"] is None and preview["created_at"]
    assert by_id[quiet["id"]]["unread_count"] == 1
    assert by_id[fresh["id"]]["last_message"] is None and by_id[fresh["id"]]["unread_count"] == 0
    mine = (await client.get("/api/v1/chats", headers=alice.headers)).json()
    assert {c["id"]: c["unread_count"] for c in mine}[busy["id"]] == 1  # bob's answer

    read = f"/api/v1/chats/{busy['id']}/read"
    marked = await client.post(
        read, headers=bob.headers, json={"message_id": first["message"]["id"]}
    )
    assert marked.status_code == 204
    single = (await client.get(f"/api/v1/chats/{busy['id']}", headers=bob.headers)).json()
    assert single["last_read_message_id"] == first["message"]["id"]
    assert single["unread_count"] == 1
    assert single["last_message"]["id"] == last["message"]["id"]
    await client.post(read, headers=bob.headers, json={"message_id": last["message"]["id"]})
    # never back
    await client.post(read, headers=bob.headers, json={"message_id": first["message"]["id"]})
    single = (await client.get(f"/api/v1/chats/{busy['id']}", headers=bob.headers)).json()
    assert single["last_read_message_id"] == last["message"]["id"]
    assert single["unread_count"] == 0
    # the marker is bob's alone
    alices = (await client.get(f"/api/v1/chats/{busy['id']}", headers=alice.headers)).json()
    assert alices["last_read_message_id"] is None and alices["unread_count"] == 1


async def test_read_marker_refuses_strangers_and_foreign_messages(
    api: Api, org: Org, client: httpx.AsyncClient
) -> None:
    alice, bob, carol = org.members
    chat = await create_chat(client, alice, bob)
    other = await create_chat(client, alice, bob, title="другой")
    here = (await post_message(client, alice, chat["id"], "здесь"))["message"]["id"]
    elsewhere = (await post_message(client, alice, other["id"], "там"))["message"]["id"]
    read = f"/api/v1/chats/{chat['id']}/read"
    assert (
        await client.post(read, headers=carol.headers, json={"message_id": here})
    ).status_code == 404
    foreign = await client.post(read, headers=bob.headers, json={"message_id": elsewhere})
    assert foreign.status_code == 422 and "detail" in foreign.json()
    for body in ({}, {"message_id": 0}, {"message_id": "x"}):
        assert (await client.post(read, headers=bob.headers, json=body)).status_code == 422
    stranger_org = await api.create_org(members=1)
    for caller in (stranger_org.admin, stranger_org.members[0]):
        response = await client.post(read, headers=caller.headers, json={"message_id": here})
        assert response.status_code == 404
    assert (await client.get(f"/api/v1/chats/{chat['id']}", headers=bob.headers)).json()[
        "last_read_message_id"
    ] is None
