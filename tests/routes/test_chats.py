from __future__ import annotations

import httpx
import pytest

from tests.support.api import Api, Org, create_chat, post_message


@pytest.fixture
async def org(api: Api) -> Org:
    return await api.create_org(members=3)


async def test_group_chat_lifecycle(org: Org, client: httpx.AsyncClient) -> None:
    alice, bob, carol = org.members
    chat = await create_chat(client, alice, bob, title="Проект")
    assert set(chat["member_ids"]) == {alice.id, bob.id}
    listed = await client.get("/api/v1/chats", headers=bob.headers)
    assert [c["id"] for c in listed.json()] == [chat["id"]]
    assert (await client.get("/api/v1/chats", headers=carol.headers)).json() == []

    renamed = await client.patch(
        f"/api/v1/chats/{chat['id']}", headers=alice.headers, json={"title": "Проект X"}
    )
    assert renamed.status_code == 200 and renamed.json()["title"] == "Проект X"
    assert (
        await client.patch(
            f"/api/v1/chats/{chat['id']}", headers=bob.headers, json={"title": "mine"}
        )
    ).status_code == 403

    added = await client.post(
        f"/api/v1/chats/{chat['id']}/members", headers=alice.headers, json={"user_id": carol.id}
    )
    assert added.status_code == 200 and carol.id in added.json()["member_ids"]
    left = await client.delete(f"/api/v1/chats/{chat['id']}/members/{bob.id}", headers=bob.headers)
    assert left.status_code == 204
    assert (await client.get(f"/api/v1/chats/{chat['id']}", headers=bob.headers)).status_code == 404

    archived = await client.delete(f"/api/v1/chats/{chat['id']}", headers=alice.headers)
    assert archived.status_code == 204
    assert (await client.get("/api/v1/chats", headers=alice.headers)).json() == []
    with_archived = await client.get(
        "/api/v1/chats", headers=alice.headers, params={"include_archived": True}
    )
    assert with_archived.json()[0]["is_archived"] is True
    refused = await client.post(
        f"/api/v1/chats/{chat['id']}/messages", headers=alice.headers, json={"content": "hello?"}
    )
    assert refused.status_code == 409


async def test_direct_chat_is_unique_per_pair(org: Org, client: httpx.AsyncClient) -> None:
    alice, bob, _ = org.members
    first = await client.post(
        "/api/v1/chats", headers=alice.headers, json={"kind": "direct", "member_ids": [bob.id]}
    )
    again = await client.post(
        "/api/v1/chats", headers=bob.headers, json={"kind": "direct", "member_ids": [alice.id]}
    )
    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["id"] == again.json()["id"]
    bad = await client.post(
        "/api/v1/chats", headers=alice.headers, json={"kind": "direct", "member_ids": []}
    )
    assert bad.status_code == 422


async def test_only_members_read_and_post(org: Org, client: httpx.AsyncClient) -> None:
    alice, bob, carol = org.members
    chat = await create_chat(client, alice, bob)
    base = f"/api/v1/chats/{chat['id']}"
    for method, url, body in (
        ("get", base, None),
        ("get", f"{base}/messages", None),
        ("post", f"{base}/messages", {"content": "let me in"}),
        ("get", f"{base}/events", None),
    ):
        kwargs = {"json": body} if body is not None else {}
        response = await client.request(method, url, headers=carol.headers, **kwargs)
        assert response.status_code == 404, (method, url)


async def test_messages_pagination_edit_delete(org: Org, client: httpx.AsyncClient) -> None:
    alice, bob, _ = org.members
    chat = await create_chat(client, alice, bob)
    base = f"/api/v1/chats/{chat['id']}/messages"
    ids = [
        (await post_message(client, alice, chat["id"], f"сообщение {i}"))["message"]["id"]
        for i in range(7)
    ]
    first = (await client.get(base, headers=bob.headers, params={"limit": 3})).json()
    assert [m["id"] for m in first["items"]] == ids[::-1][:3]
    second = (
        await client.get(
            base, headers=bob.headers, params={"limit": 3, "before_id": first["next_before_id"]}
        )
    ).json()
    assert [m["id"] for m in second["items"]] == ids[::-1][3:6]
    since = (await client.get(base, headers=bob.headers, params={"after_id": ids[4]})).json()
    assert [m["id"] for m in since["items"]] == ids[5:]
    assert since["next_before_id"] is None

    assert (
        await client.patch(f"{base}/{ids[0]}", headers=bob.headers, json={"content": "чужое"})
    ).status_code == 403
    edited = await client.patch(
        f"{base}/{ids[0]}", headers=alice.headers, json={"content": "исправлено"}
    )
    assert edited.status_code == 200 and edited.json()["is_edited"] is True
    assert (await client.delete(f"{base}/{ids[1]}", headers=bob.headers)).status_code == 403
    assert (await client.delete(f"{base}/{ids[1]}", headers=alice.headers)).status_code == 204
    remaining = (await client.get(base, headers=bob.headers, params={"limit": 50})).json()
    assert ids[1] not in [m["id"] for m in remaining["items"]]
    assert (await client.get(f"{base}/{ids[1]}", headers=bob.headers)).status_code == 404
    bad = await client.get(base, headers=bob.headers, params={"before_id": 1, "after_id": 1})
    assert bad.status_code == 422


async def test_user_mention_is_recorded_for_members_only(
    org: Org, client: httpx.AsyncClient
) -> None:
    alice, bob, carol = org.members
    chat = await create_chat(client, alice, bob)
    posted = await post_message(
        client,
        alice,
        chat["id"],
        f"@{bob.username}, глянь; @{carol.username} не в чате; @nobody; @{alice.username}",
    )
    assert posted["mentioned_user_ids"] == [bob.id]
    assert posted["ai_message_ids"] == []


async def test_unknown_role_mention_is_ignored(org: Org, client: httpx.AsyncClient) -> None:
    alice, bob, _ = org.members
    chat = await create_chat(client, alice, bob)
    posted = await post_message(client, alice, chat["id"], "@@pirate спой песню")
    assert posted["ai_message_ids"] == [] and posted["message"]["content"] == "@@pirate спой песню"


async def test_chats_and_messages_are_tenant_isolated(api: Api, client: httpx.AsyncClient) -> None:
    a = await api.create_org(members=1)
    b = await api.create_org(members=2)
    chat_b = await create_chat(client, b.members[0], b.members[1])
    msg_b = (await post_message(client, b.members[0], chat_b["id"], "секрет B"))["message"]
    base = f"/api/v1/chats/{chat_b['id']}"
    routes = [
        ("get", base, None),
        ("patch", base, {"title": "pwned"}),
        ("delete", base, None),
        ("post", f"{base}/unarchive", None),
        ("post", f"{base}/members", {"user_id": a.members[0].id}),
        ("delete", f"{base}/members/{b.members[1].id}", None),
        ("get", f"{base}/messages", None),
        ("post", f"{base}/messages", {"content": "hi"}),
        ("get", f"{base}/messages/{msg_b['id']}", None),
        ("patch", f"{base}/messages/{msg_b['id']}", {"content": "pwned"}),
        ("delete", f"{base}/messages/{msg_b['id']}", None),
        ("post", f"{base}/messages/{msg_b['id']}/validate", None),
        ("post", f"{base}/messages/{msg_b['id']}/reject", None),
        ("get", f"{base}/events", None),
    ]
    for caller in (a.admin, a.members[0]):
        for method, url, body in routes:
            kwargs = {"json": body} if body is not None else {}
            response = await client.request(method, url, headers=caller.headers, **kwargs)
            assert response.status_code == 404, (method, url, response.text)
            assert "секрет" not in response.text
    # B's admin is not a member either: admins do not read chats they are not in
    assert (await client.get(base, headers=b.admin.headers)).status_code == 404
    # adding a user of another org to a chat is a 404 for that user
    own = await create_chat(client, a.members[0])
    cross = await client.post(
        f"/api/v1/chats/{own['id']}/members",
        headers=a.members[0].headers,
        json={"user_id": b.members[0].id},
    )
    assert cross.status_code == 404
    still = await client.get(f"{base}/messages", headers=b.members[1].headers)
    assert [m["content"] for m in still.json()["items"]] == ["секрет B"]


async def test_posting_and_reading_check_the_account_in_the_same_statement(
    api: Api, client: httpx.AsyncClient
) -> None:
    """Posting and reading a page read no account before their statement, which checks the
    account itself: a deactivated member, or a member of a deactivated organization, is
    refused on the very next request all the same (401), whatever the message or page."""
    org = await api.create_org(members=2)
    alice, bob = org.members
    chat = await create_chat(client, alice, bob, title="Проверка")
    empty = await create_chat(client, alice, bob, title="Пусто")
    await post_message(client, alice, chat["id"], "первое")
    url = f"/api/v1/chats/{chat['id']}/messages"
    page = await client.get(url, headers=bob.headers)
    assert page.status_code == 200 and [m["content"] for m in page.json()["items"]] == ["первое"]

    off = await client.post(f"/api/v1/users/{bob.id}/deactivate", headers=org.admin.headers)
    assert off.status_code == 200
    for content in ("просто текст", "@@lawyer вопрос", f"@{alice.username} привет"):
        refused = await client.post(url, headers=bob.headers, json={"content": content})
        assert refused.status_code == 401, (content, refused.text)
        assert refused.json()["detail"] == "account disabled or not found"
    for chat_id in (chat["id"], empty["id"]):
        read = await client.get(f"/api/v1/chats/{chat_id}/messages", headers=bob.headers)
        assert read.status_code == 401, read.text
    assert (await client.get(url, headers=alice.headers)).json()["items"][0]["content"] == "первое"

    root = await api.system_admin()
    org_off = await client.patch(
        f"/api/v1/organizations/{org.id}", headers=root.headers, json={"is_active": False}
    )
    assert org_off.status_code == 200
    assert (await client.post(url, headers=alice.headers, json={"content": "x"})).status_code == 401
    assert (await client.get(url, headers=alice.headers)).status_code == 401


async def test_a_non_member_reads_and_posts_nothing(org: Org, client: httpx.AsyncClient) -> None:
    alice, bob, carol = org.members
    chat = await create_chat(client, alice, bob, title="Двое")
    await post_message(client, alice, chat["id"], "секрет")
    url = f"/api/v1/chats/{chat['id']}/messages"
    assert (await client.get(url, headers=carol.headers)).status_code == 404
    posted = await client.post(url, headers=carol.headers, json={"content": "можно?"})
    assert posted.status_code == 404
    assert [m["content"] for m in (await client.get(url, headers=bob.headers)).json()["items"]] == [
        "секрет"
    ]
