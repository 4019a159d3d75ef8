from __future__ import annotations

import httpx

from tests.support.api import Api


async def test_admin_manages_users(api: Api, client: httpx.AsyncClient) -> None:
    org = await api.create_org(members=0)
    created = await client.post(
        "/api/v1/users",
        headers=org.admin.headers,
        json={
            "username": "Иван.Петров",
            "password": "secret-pass-1",
            "email": "ivan@example.com",
            "full_name": "Иван Петров",
        },
    )
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]
    assert created.json()["role"] == "user" and "password" not in created.text

    duplicate = await client.post(
        "/api/v1/users",
        headers=org.admin.headers,
        json={"username": "иван.петров", "password": "secret-pass-1"},
    )
    assert duplicate.status_code == 409

    listed = await client.get("/api/v1/users", headers=org.admin.headers)
    assert {u["username"] for u in listed.json()} == {"boss", "Иван.Петров"}

    promoted = await client.patch(
        f"/api/v1/users/{user_id}", headers=org.admin.headers, json={"role": "admin"}
    )
    assert promoted.status_code == 200 and promoted.json()["role"] == "admin"

    deleted = await client.delete(f"/api/v1/users/{user_id}", headers=org.admin.headers)
    assert deleted.status_code == 204
    gone = await client.get(f"/api/v1/users/{user_id}", headers=org.admin.headers)
    assert gone.status_code == 404
    # the username is free again after a soft delete
    again = await client.post(
        "/api/v1/users",
        headers=org.admin.headers,
        json={"username": "Иван.Петров", "password": "secret-pass-1"},
    )
    assert again.status_code == 201


async def test_plain_user_permissions(api: Api, client: httpx.AsyncClient) -> None:
    org = await api.create_org(members=2)
    alice, bob = org.members
    checks = [
        ("post", "/api/v1/users", {"username": "newbie", "password": "secret-pass-1"}),
        ("patch", f"/api/v1/users/{bob.id}", {"full_name": "Hacked"}),
        ("delete", f"/api/v1/users/{bob.id}", None),
        ("post", f"/api/v1/users/{bob.id}/deactivate", None),
        ("post", f"/api/v1/users/{bob.id}/reset-password", {"new_password": "secret-pass-2"}),
        ("post", "/api/v1/roles/admin/cache/clear", None),
        ("post", "/api/v1/organizations", {"slug": "x-org", "name": "X"}),
        ("patch", f"/api/v1/organizations/{org.id}", {"name": "Renamed"}),
    ]
    for method, url, body in checks:
        kwargs = {"json": body} if body is not None else {}
        response = await client.request(method, url, headers=alice.headers, **kwargs)
        assert response.status_code == 403, (method, url, response.text)
    own = await client.patch("/api/v1/users/me", headers=alice.headers, json={"full_name": "Alice"})
    assert own.status_code == 200 and own.json()["full_name"] == "Alice"
    escalate = await client.patch(
        f"/api/v1/users/{alice.id}", headers=alice.headers, json={"role": "admin"}
    )
    assert escalate.status_code == 403
    visible = await client.get("/api/v1/users", headers=alice.headers)
    assert visible.status_code == 200 and len(visible.json()) == 3


async def test_write_bodies_refuse_unknown_fields(api: Api, client: httpx.AsyncClient) -> None:
    org = await api.create_org(members=1)
    member = org.members[0]
    for body in (
        {"full_name": "x", "role": "admin"},
        {"full_name": "x", "org_id": org.id},
        {"is_admin": True},
    ):
        response = await client.patch("/api/v1/users/me", headers=member.headers, json=body)
        assert response.status_code == 422, body
    me = await client.get("/api/v1/auth/me", headers=member.headers)
    assert me.json()["role"] == "user"
    smuggled = await client.post(
        "/api/v1/users",
        headers=org.admin.headers,
        json={"username": "smuggler", "password": "secret-pass-1", "org_id": "x"},
    )
    assert smuggled.status_code == 422


async def test_admin_cannot_lock_themselves_out(api: Api, client: httpx.AsyncClient) -> None:
    org = await api.create_org(members=0)
    me = org.admin
    for method, url, body in (
        ("patch", f"/api/v1/users/{me.id}", {"role": "user"}),
        ("post", f"/api/v1/users/{me.id}/deactivate", None),
        ("delete", f"/api/v1/users/{me.id}", None),
    ):
        kwargs = {"json": body} if body is not None else {}
        assert (await client.request(method, url, headers=me.headers, **kwargs)).status_code == 403


async def test_list_pagination_is_capped(api: Api, client: httpx.AsyncClient) -> None:
    org = await api.create_org(members=3)
    for params in (
        {"limit": 100000},
        {"limit": -1},
        {"limit": 0},
        {"offset": -5},
        {"limit": "ten"},
    ):
        response = await client.get("/api/v1/users", headers=org.admin.headers, params=params)
        assert response.status_code == 422, params
    page = await client.get(
        "/api/v1/users", headers=org.admin.headers, params={"limit": 2, "offset": 1}
    )
    assert [u["username"] for u in page.json()] == ["user1", "user2"]


async def test_null_for_a_required_field_is_422(api: Api, client: httpx.AsyncClient) -> None:
    org = await api.create_org(members=1)
    member = org.members[0]
    for body in ({"full_name": None}, {"role": None}, {"is_active": None}):
        url = "/api/v1/users/me" if "full_name" in body else f"/api/v1/users/{member.id}"
        headers = member.headers if "full_name" in body else org.admin.headers
        response = await client.patch(url, headers=headers, json=body)
        assert response.status_code == 422, (body, response.text)
    cleared = await client.patch("/api/v1/users/me", headers=member.headers, json={"email": None})
    assert cleared.status_code == 200 and cleared.json()["email"] is None
