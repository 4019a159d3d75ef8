"""A user of org A never sees or touches org B's objects: always 404, never B's data."""

from __future__ import annotations

import httpx
import pytest

from tests.support.api import Api, Org


@pytest.fixture
async def two_orgs(api: Api) -> tuple[Org, Org]:
    return await api.create_org(members=1), await api.create_org(members=1)


def _id_routes(b: Org) -> list[tuple[str, str, dict | None]]:
    user_b = b.members[0].id
    return [
        ("get", f"/api/v1/users/{user_b}", None),
        ("patch", f"/api/v1/users/{user_b}", {"full_name": "pwned"}),
        ("delete", f"/api/v1/users/{user_b}", None),
        ("post", f"/api/v1/users/{user_b}/deactivate", None),
        ("post", f"/api/v1/users/{user_b}/activate", None),
        ("post", f"/api/v1/users/{user_b}/reset-password", {"new_password": "pwned-pass-1"}),
        ("get", f"/api/v1/organizations/{b.id}", None),
        ("patch", f"/api/v1/organizations/{b.id}", {"name": "pwned"}),
        ("delete", f"/api/v1/organizations/{b.id}", None),
    ]


async def test_admin_of_a_gets_404_for_b_objects(
    two_orgs: tuple[Org, Org], client: httpx.AsyncClient
) -> None:
    a, b = two_orgs
    for caller in (a.admin, a.members[0]):
        for method, url, body in _id_routes(b):
            kwargs = {"json": body} if body is not None else {}
            response = await client.request(method, url, headers=caller.headers, **kwargs)
            assert response.status_code == 404, (caller.username, method, url, response.text)
            assert b.id not in response.text and b.slug not in response.text
    # B is untouched
    b_user = await client.get(f"/api/v1/users/{b.members[0].id}", headers=b.admin.headers)
    assert b_user.status_code == 200 and b_user.json()["full_name"] != "pwned"
    assert b_user.json()["is_active"] is True


async def test_listings_never_show_b_rows(
    two_orgs: tuple[Org, Org], client: httpx.AsyncClient
) -> None:
    a, b = two_orgs
    for url in ("/api/v1/users", "/api/v1/organizations", "/api/v1/roles"):
        response = await client.get(url, headers=a.admin.headers)
        assert response.status_code == 200
        assert b.id not in response.text and b.members[0].id not in response.text


async def test_roles_are_per_organization(
    two_orgs: tuple[Org, Org], client: httpx.AsyncClient
) -> None:
    a, b = two_orgs
    role_a = (await client.get("/api/v1/roles/lawyer", headers=a.admin.headers)).json()
    role_b = (await client.get("/api/v1/roles/lawyer", headers=b.admin.headers)).json()
    assert role_a["code"] == role_b["code"] == "lawyer"
