from __future__ import annotations

import time

import httpx
import pytest

from tests.conftest import running_app
from tests.support import jwt_forge
from tests.support.api import ADMIN_PASSWORD, USER_PASSWORD, Api, unique


async def test_login_by_username_and_by_email(api: Api, client: httpx.AsyncClient) -> None:
    org = await api.create_org(members=0)
    by_name = await api.login("boss", ADMIN_PASSWORD, org.slug)
    by_email = await api.login("boss@example.com", ADMIN_PASSWORD, org.slug)
    assert by_name.status_code == by_email.status_code == 200
    body = by_name.json()
    assert body["token_type"] == "bearer" and body["user"]["username"] == "boss"
    assert "password" not in by_name.text and "$2b$" not in by_name.text
    me = await client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.status_code == 200 and me.json()["org_id"] == org.id


async def test_unique_username_logs_in_without_organization(api: Api) -> None:
    org = await api.create_org(members=0)
    name = unique("solo").replace("-", "_")
    await api.create_member(org, name)
    response = await api.login(name, USER_PASSWORD)
    assert response.status_code == 200


async def test_same_username_in_two_orgs_picks_by_password(api: Api) -> None:
    org_a = await api.create_org(members=0)
    org_b = await api.create_org(members=0)
    name = unique("twin").replace("-", "_")
    await api.create_member(org_a, name)
    client = api.client
    await client.post(
        "/api/v1/users",
        headers=org_b.admin.headers,
        json={"username": name, "password": "other-password-99"},
    )
    response = await api.login(name, "other-password-99")
    assert response.status_code == 200
    assert response.json()["user"]["org_id"] == org_b.id


async def test_unknown_user_and_wrong_password_answer_alike(api: Api) -> None:
    org = await api.create_org(members=0)
    wrong = await api.login("boss", "not-the-password", org.slug)
    unknown = await api.login("nobody-here", "not-the-password", org.slug)
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"detail": "invalid credentials"}


async def test_password_over_72_bytes(api: Api, client: httpx.AsyncClient) -> None:
    org = await api.create_org(members=0)
    long_password = "я" * 40  # 80 bytes in UTF-8, 40 characters
    created = await client.post(
        "/api/v1/users",
        headers=org.admin.headers,
        json={"username": "longpass", "password": long_password},
    )
    assert created.status_code == 422
    assert "72 bytes" in created.text
    login = await api.login("boss", ADMIN_PASSWORD + "x" * 80, org.slug)
    assert login.status_code == 401


async def test_refresh_rotates_and_reuse_revokes_family(
    api: Api, client: httpx.AsyncClient
) -> None:
    org = await api.create_org(members=0)
    first = org.admin.refresh_token
    rotated = await client.post("/api/v1/auth/refresh", json={"refresh_token": first})
    assert rotated.status_code == 200
    second = rotated.json()["refresh_token"]
    assert second != first
    new_access = rotated.json()["access_token"]
    me = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {new_access}"})
    assert me.status_code == 200

    reused = await client.post("/api/v1/auth/refresh", json={"refresh_token": first})
    assert reused.status_code == 401
    after_reuse = await client.post("/api/v1/auth/refresh", json={"refresh_token": second})
    assert after_reuse.status_code == 401, "the whole family must be revoked after reuse"


async def test_logout_revokes_refresh_token(api: Api, client: httpx.AsyncClient) -> None:
    org = await api.create_org(members=0)
    token = org.admin.refresh_token
    assert (
        await client.post("/api/v1/auth/logout", json={"refresh_token": token})
    ).status_code == 204
    again = await client.post("/api/v1/auth/refresh", json={"refresh_token": token})
    assert again.status_code == 401


async def test_refresh_token_is_not_an_access_token(api: Api, client: httpx.AsyncClient) -> None:
    org = await api.create_org(members=0)
    response = await client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {org.admin.refresh_token}"}
    )
    assert response.status_code == 401
    access_as_refresh = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": org.admin.access_token}
    )
    assert access_as_refresh.status_code == 401


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda u, o: jwt_forge.unsigned(jwt_forge.claims(u, o)), id="alg-none"),
        pytest.param(
            lambda u, o: jwt_forge.unsigned(
                jwt_forge.claims(u, o), alg="RS256", signature=b"x" * 256
            ),
            id="alg-rs256",
        ),
        pytest.param(
            lambda u, o: jwt_forge.signed(jwt_forge.claims(u, o), key="another-secret-" + "y" * 40),
            id="wrong-key",
        ),
        pytest.param(
            lambda u, o: jwt_forge.signed(jwt_forge.claims(u, o), algorithm="HS512"), id="hs512"
        ),
        pytest.param(
            lambda u, o: jwt_forge.signed(
                jwt_forge.claims(u, o, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)
            ),
            id="expired",
        ),
        pytest.param(
            lambda u, o: jwt_forge.signed(jwt_forge.claims(u, o, nbf=int(time.time()) + 3600)),
            id="not-yet-valid",
        ),
        pytest.param(
            lambda u, o: jwt_forge.signed(jwt_forge.claims(u, o, aud="someone-else")),
            id="wrong-audience",
        ),
        pytest.param(
            lambda u, o: jwt_forge.signed(jwt_forge.claims(u, o, iss="evil")), id="wrong-issuer"
        ),
        pytest.param(lambda u, o: jwt_forge.signed(jwt_forge.claims(u, o, exp=None)), id="no-exp"),
        pytest.param(lambda u, o: jwt_forge.signed(jwt_forge.claims(u, o, aud=None)), id="no-aud"),
        pytest.param(
            lambda u, o: jwt_forge.signed(jwt_forge.claims(u, o, typ="refresh")), id="typ-refresh"
        ),
        pytest.param(
            lambda u, o: jwt_forge.signed(jwt_forge.claims(u, o))[:-3] + "abc", id="tampered"
        ),
        pytest.param(
            lambda u, o: jwt_forge.signed(jwt_forge.claims("not-a-uuid", o)), id="bad-sub"
        ),
    ],
)
async def test_forged_tokens_are_refused(api: Api, client: httpx.AsyncClient, forge) -> None:  # type: ignore[no-untyped-def]
    org = await api.create_org(members=0)
    control = jwt_forge.signed(jwt_forge.claims(org.admin.id, org.id))
    ok = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {control}"})
    assert ok.status_code == 200, "a correctly signed token must pass, or this test proves nothing"
    token = forge(org.admin.id, org.id)
    response = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert "detail" in response.json()


async def test_missing_and_malformed_authorization(client: httpx.AsyncClient) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer a.b.c"},
    ):
        response = await client.get("/api/v1/auth/me", headers=headers)
        assert response.status_code in (401, 403)
        assert "detail" in response.json()


async def test_deactivated_user_is_refused_with_valid_token(
    api: Api, client: httpx.AsyncClient
) -> None:
    org = await api.create_org(members=1)
    member = org.members[0]
    assert (await client.get("/api/v1/auth/me", headers=member.headers)).status_code == 200
    off = await client.post(f"/api/v1/users/{member.id}/deactivate", headers=org.admin.headers)
    assert off.status_code == 200 and off.json()["is_active"] is False
    assert (await client.get("/api/v1/auth/me", headers=member.headers)).status_code == 401
    refresh = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": member.refresh_token}
    )
    assert refresh.status_code == 401
    assert (await api.login(member.username, USER_PASSWORD, org.slug)).status_code == 401


async def test_password_change_and_reset(api: Api, client: httpx.AsyncClient) -> None:
    org = await api.create_org(members=1)
    member = org.members[0]
    wrong = await client.post(
        "/api/v1/auth/password",
        headers=member.headers,
        json={"current_password": "nope-nope-nope", "new_password": "brand-new-pass-1"},
    )
    assert wrong.status_code == 401
    changed = await client.post(
        "/api/v1/auth/password",
        headers=member.headers,
        json={"current_password": USER_PASSWORD, "new_password": "brand-new-pass-1"},
    )
    assert changed.status_code == 204
    assert (await api.login(member.username, "brand-new-pass-1", org.slug)).status_code == 200
    reset = await client.post(
        f"/api/v1/users/{member.id}/reset-password",
        headers=org.admin.headers,
        json={"new_password": "admin-set-pass-1"},
    )
    assert reset.status_code == 204
    assert (await api.login(member.username, "admin-set-pass-1", org.slug)).status_code == 200
    assert (await api.login(member.username, "brand-new-pass-1", org.slug)).status_code == 401


async def test_failed_logins_are_throttled_per_account_and_ip(make_settings) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(login_max_failures_per_account=3, login_max_failures_per_ip=6)
    async with running_app(settings, client_ip="10.20.30.40") as (_, client):
        api = Api(client, "system-admin-password-1")
        org = await api.create_org(members=0)
        for _ in range(3):
            assert (await api.login("boss", "bad-password", org.slug)).status_code == 401
        blocked = await api.login("boss", ADMIN_PASSWORD, org.slug)
        assert blocked.status_code == 429
        assert "too many" in blocked.json()["detail"] and blocked.headers["Retry-After"]
        # an unknown account is throttled the same way, so throttling reveals nothing
        for _ in range(3):
            await api.login("ghost", "bad-password", org.slug)
        assert (await api.login("ghost", "bad-password", org.slug)).status_code == 429
        # the IP counter (6 failures) now blocks every account from this address
        other = await api.login("admin", "system-admin-password-1", "system")
        assert other.status_code == 429
