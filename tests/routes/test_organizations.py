from __future__ import annotations

import httpx

from tests.support.api import ADMIN_PASSWORD, Api, unique


async def test_only_system_admin_creates_organizations(api: Api, client: httpx.AsyncClient) -> None:
    root = await api.system_admin()
    org = await api.create_org(members=0)
    denied = await client.post(
        "/api/v1/organizations", headers=org.admin.headers, json={"slug": unique("x"), "name": "X"}
    )
    assert denied.status_code == 403
    slug = unique("dup")
    first = await client.post(
        "/api/v1/organizations", headers=root.headers, json={"slug": slug, "name": "A"}
    )
    second = await client.post(
        "/api/v1/organizations", headers=root.headers, json={"slug": slug, "name": "B"}
    )
    assert first.status_code == 201 and second.status_code == 409
    bad = await client.post(
        "/api/v1/organizations", headers=root.headers, json={"slug": "Bad Slug!", "name": "B"}
    )
    assert bad.status_code == 422


async def test_new_organization_gets_roles_and_admin(api: Api, client: httpx.AsyncClient) -> None:
    org = await api.create_org(members=0)
    roles = await client.get("/api/v1/roles", headers=org.admin.headers)
    assert {r["code"] for r in roles.json()} == {"lawyer", "accountant", "hr", "chu"}
    mine = await client.get("/api/v1/organizations", headers=org.admin.headers)
    assert [o["id"] for o in mine.json()] == [org.id]
    renamed = await client.patch(
        f"/api/v1/organizations/{org.id}", headers=org.admin.headers, json={"name": "Renamed"}
    )
    assert renamed.status_code == 200 and renamed.json()["name"] == "Renamed"


async def test_deactivated_organization_locks_its_users_out(
    api: Api, client: httpx.AsyncClient
) -> None:
    root = await api.system_admin()
    org = await api.create_org(members=0)
    off = await client.patch(
        f"/api/v1/organizations/{org.id}", headers=root.headers, json={"is_active": False}
    )
    assert off.status_code == 200
    assert (await client.get("/api/v1/auth/me", headers=org.admin.headers)).status_code == 401
    assert (await api.login("boss", ADMIN_PASSWORD, org.slug)).status_code == 401
    deleted = await client.delete(f"/api/v1/organizations/{org.id}", headers=root.headers)
    assert deleted.status_code == 204
    assert (
        await client.get(f"/api/v1/organizations/{org.id}", headers=root.headers)
    ).status_code == 404
