"""Who may call what: admin routes, disabled accounts, forged tokens, password guessing, hashes.

Extends tests/routes/test_auth.py (which checks each forged token kind on /auth/me and the
refresh-token family rules) to every secured route of the API.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from engine.config import Settings
from engine.logging_setup import REDACTED, RedactingFormatter
from tests.conftest import SYSTEM_ADMIN_PASSWORD, running_app
from tests.support import jwt_forge
from tests.support.api import ADMIN_PASSWORD, USER_PASSWORD, Account, Api
from tests.support.figures import record
from tests.support.objects import Operation, OrgObjects, id_combinations, operations, populate

# Routes a plain member may not call on its own organization (path values: member's org).
ADMIN_ONLY = [
    ("POST", "/api/v1/users"),
    ("PATCH", "/api/v1/users/{user_id}"),
    ("DELETE", "/api/v1/users/{user_id}"),
    ("POST", "/api/v1/users/{user_id}/deactivate"),
    ("POST", "/api/v1/users/{user_id}/activate"),
    ("POST", "/api/v1/users/{user_id}/reset-password"),
    ("POST", "/api/v1/roles/admin/cache/clear"),
    ("POST", "/api/v1/organizations/{org_id}/documents"),
    ("DELETE", "/api/v1/organizations/{org_id}/documents/{document_id}"),
    ("PATCH", "/api/v1/organizations/{org_id}"),
    ("POST", "/api/v1/organizations"),
    ("DELETE", "/api/v1/organizations/{org_id}"),
]
# The organization's notification log: whole org, or another user's entries.
ADMIN_ONLY_QUERIES = [
    ("GET", "/api/v1/notifications/log", {"scope": "org"}),
    ("GET", "/api/v1/notifications/log", {"user_id": "<admin>"}),
]
# ... and an organization's admin may not call on its own organization either.
SYSTEM_ADMIN_ONLY = [
    ("POST", "/api/v1/organizations", None),
    ("DELETE", "/api/v1/organizations/{org_id}", None),
    ("PATCH", "/api/v1/organizations/{org_id}", {"is_active": False}),
]


@pytest.fixture(scope="module")
async def own(api: Api, app: FastAPI) -> OrgObjects:
    return await populate(api, await api.create_org(members=1), app.state.engine)


def _by_key(app: FastAPI) -> dict[tuple[str, str], Operation]:
    return {(op.method, op.path): op for op in operations(app)}


async def test_plain_user_cannot_call_admin_routes(
    app: FastAPI, client: httpx.AsyncClient, own: OrgObjects
) -> None:
    ops = _by_key(app)
    # the member acts on the admin's account, never on its own
    targets = {**{k: v[0] for k, v in own.ids.items()}, "user_id": own.admin.id}
    tried = 0
    for key in ADMIN_ONLY:
        operation = ops[key]  # a KeyError here means the route moved: update the table
        response = await client.request(
            operation.method,
            operation.url(targets),
            headers=own.member.headers,
            **({"json": operation.body(own)} if operation.has_body else {}),
        )
        tried += 1
        assert response.status_code == 403, (key, response.status_code, response.text)
    for method, path, query in ADMIN_ONLY_QUERIES:
        params = {k: own.admin.id if v == "<admin>" else v for k, v in query.items()}
        response = await client.request(
            method, ops[(method, path)].url(targets), headers=own.member.headers, params=params
        )
        tried += 1
        assert response.status_code == 403, (method, path, query, response.text)
        allowed = await client.request(method, path, headers=own.admin.headers, params=params)
        assert allowed.status_code == 200, allowed.text
    for method, path, body in SYSTEM_ADMIN_ONLY:
        operation = ops[(method, path)]
        response = await client.request(
            method,
            operation.url(targets),
            headers=own.admin.headers,
            json=body if body is not None else operation.body(own),
        )
        tried += 1
        assert response.status_code == 403, (method, path, response.text)
    record("roles: admin routes called by a plain user / org admin", requests=tried, not_403=0)
    admin = await client.get(f"/api/v1/users/{own.admin.id}", headers=own.admin.headers)
    assert admin.json()["is_active"] and admin.json()["role"] == "admin"
    org = await client.get(f"/api/v1/organizations/{own.org.id}", headers=own.admin.headers)
    assert org.json()["is_active"]


async def _secured_calls(
    client: httpx.AsyncClient, app: FastAPI, objects: OrgObjects, headers: dict[str, str]
) -> collections.Counter[int]:
    statuses: collections.Counter[int] = collections.Counter()
    for operation in operations(app):
        if not operation.secured:
            continue
        values = id_combinations(operation, objects)[0]
        body = operation.body(objects)
        response = await client.request(
            operation.method,
            operation.url(values),
            headers=headers,
            **({"json": body} if body is not None else {}),
        )
        statuses[response.status_code] += 1
        if response.status_code != 401:
            raise AssertionError(f"{operation.label}: {response.status_code} {response.text}")
        assert response.headers.get("www-authenticate", "").lower().startswith("bearer")
    return statuses


async def test_disabled_accounts_are_refused_on_every_route(
    app: FastAPI, client: httpx.AsyncClient, api: Api
) -> None:
    """Still-valid access tokens of a deactivated user, a deleted user and a user of a
    deactivated organization: 401 on every secured route."""
    objects = await populate(api, await api.create_org(members=3), app.state.engine)
    org = objects.org
    deactivated, deleted, _ = org.members[1:] + [org.members[0]]
    root = await api.system_admin()
    assert (
        await client.post(f"/api/v1/users/{deactivated.id}/deactivate", headers=org.admin.headers)
    ).status_code == 200
    assert (
        await client.delete(f"/api/v1/users/{deleted.id}", headers=org.admin.headers)
    ).status_code == 204
    tried = 0
    for account in (deactivated, deleted):
        tried += sum((await _secured_calls(client, app, objects, account.headers)).values())
    # a whole organization switched off: its admin's token dies too
    off = await client.patch(
        f"/api/v1/organizations/{org.id}", headers=root.headers, json={"is_active": False}
    )
    assert off.status_code == 200
    tried += sum((await _secured_calls(client, app, objects, org.admin.headers)).values())
    assert (await api.login("boss", ADMIN_PASSWORD, org.slug)).status_code == 401
    record(
        "auth: disabled accounts' valid tokens on every secured route", requests=tried, not_401=0
    )


def _forgeries(account: Account) -> dict[str, str]:
    u, o = account.id, account.org_id
    now = int(time.time())
    claims = jwt_forge.claims
    return {
        "alg-none": jwt_forge.unsigned(claims(u, o)),
        "alg-none-uppercase": jwt_forge.unsigned(claims(u, o), alg="NONE"),
        "wrong-key": jwt_forge.signed(claims(u, o), key="another-secret-" + "y" * 40),
        "expired": jwt_forge.signed(claims(u, o, iat=now - 7200, exp=now - 3600)),
        "not-yet-valid": jwt_forge.signed(claims(u, o, nbf=now + 3600)),
        "wrong-audience": jwt_forge.signed(claims(u, o, aud="someone-else")),
        "wrong-issuer": jwt_forge.signed(claims(u, o, iss="evil")),
        "typ-refresh": jwt_forge.signed(claims(u, o, typ="refresh")),
        "refresh-token-as-access": account.refresh_token,
        "other-org-claim": jwt_forge.signed(claims(u, "00000000-0000-0000-0000-000000000001")),
        "tampered": account.access_token[:-4]
        + ("AAAA" if account.access_token[-4:] != "AAAA" else "BBBB"),
        "empty": "",
    }


async def test_forged_tokens_are_refused_on_every_route(
    app: FastAPI, client: httpx.AsyncClient, own: OrgObjects
) -> None:
    tried = 0
    forgeries = _forgeries(own.admin)
    for name, token in forgeries.items():
        try:
            statuses = await _secured_calls(client, app, own, {"Authorization": f"Bearer {token}"})
        except AssertionError as exc:
            raise AssertionError(f"forgery {name!r} was accepted: {exc}") from None
        tried += sum(statuses.values())
    # the real token still works, or this proves nothing
    assert (await client.get("/api/v1/auth/me", headers=own.admin.headers)).status_code == 200
    record(
        "auth: forged tokens on every secured route",
        kinds=len(forgeries),
        requests=tried,
        accepted=0,
    )


async def test_parallel_refresh_with_one_token_rotates_once(
    api: Api, client: httpx.AsyncClient
) -> None:
    """More parallel refreshes than pool connections (5): one rotation, the rest refused.

    Regression: the lock holder needed a second pool connection while the others held every
    connection waiting for its row lock; all stalled until the command timeout, then 503.
    """
    org = await api.create_org(members=0)
    token = org.admin.refresh_token
    async with asyncio.timeout(10):
        answers = await asyncio.gather(
            *(client.post("/api/v1/auth/refresh", json={"refresh_token": token}) for _ in range(12))
        )
    statuses = collections.Counter(r.status_code for r in answers)
    assert statuses == {200: 1, 401: 11}, statuses
    # the token was used more than once: its whole family is revoked, the new one included
    newest = next(r for r in answers if r.status_code == 200).json()["refresh_token"]
    again = await client.post("/api/v1/auth/refresh", json={"refresh_token": newest})
    assert again.status_code == 401


async def test_parallel_password_guessing_is_throttled(
    make_settings: Callable[..., Settings],
) -> None:
    """Guesses sent all at once must not slip past the per-account and per-IP limits."""
    settings = make_settings(login_max_failures_per_account=5, login_max_failures_per_ip=12)
    async with running_app(settings, client_ip="10.66.0.1") as (_, client):
        api = Api(client, SYSTEM_ADMIN_PASSWORD)
        org = await api.create_org(members=0)
        waves = [
            await asyncio.gather(
                *(api.login("boss", f"guess-{w}-{i}", org.slug) for i in range(40))
            )
            for w in range(3)
        ]
        sequential = [await api.login("boss", f"late-guess-{i}", org.slug) for i in range(10)]
        answers = [r for wave in waves for r in wave] + sequential
        checked = sum(r.status_code == 401 for r in answers)
        assert {r.status_code for r in answers} <= {401, 429}
        assert checked == 5, f"{checked} passwords were tried against a limit of 5"
        assert (await api.login("boss", ADMIN_PASSWORD, org.slug)).status_code == 429
        # many accounts from the same address: the per-IP limit (12) holds the same way
        spread = await asyncio.gather(
            *(api.login(f"user{i}", "guess-password", org.slug) for i in range(60))
        )
        ip_checked = checked + sum(r.status_code == 401 for r in spread)
        assert ip_checked <= 12, ip_checked
    record(
        "auth: parallel password guessing (limit 5/account, 12/IP)",
        guesses=len(answers) + len(spread),
        passwords_checked_per_account=checked,
        passwords_checked_per_ip=ip_checked,
    )


async def test_password_hashes_never_in_responses_or_logs(
    app: FastAPI,
    client: httpx.AsyncClient,
    api: Api,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    objects = await populate(api, await api.create_org(members=2), app.state.engine)
    org, member = objects.org, objects.member
    texts: list[str] = []

    async def call(method: str, url: str, headers: dict[str, str], **kw: Any) -> httpx.Response:
        response = await client.request(method, url, headers=headers, **kw)
        texts.append(response.text)
        return response

    # every GET route as admin and as member
    for operation in operations(app):
        if operation.method == "GET" and not operation.streams:
            for values in id_combinations(operation, objects):
                for who in (org.admin, member):
                    await call("GET", operation.url(values), who.headers)
    # account flows that touch passwords
    texts.append((await api.login("boss", ADMIN_PASSWORD, org.slug)).text)
    texts.append((await api.login("boss", "wrong-password-1", org.slug)).text)
    await call(
        "POST",
        "/api/v1/auth/password",
        member.headers,
        json={"current_password": USER_PASSWORD, "new_password": "changed-password-1"},
    )
    await call(
        "POST",
        "/api/v1/auth/password",
        member.headers,
        json={"current_password": "bad-current-1", "new_password": "changed-password-2"},
    )
    other = org.members[1]
    await call(
        "POST",
        f"/api/v1/users/{other.id}/reset-password",
        org.admin.headers,
        json={"new_password": "reset-password-1"},
    )
    await call(
        "POST",
        "/api/v1/users",
        org.admin.headers,
        json={"username": "fresh", "password": "fresh-password-1"},
    )
    await call(
        "POST",
        "/api/v1/users",
        org.admin.headers,
        json={"username": "fresh", "password": "fresh-password-1"},
    )  # 409
    await call("PATCH", f"/api/v1/users/{other.id}", org.admin.headers, json={"role": "admin"})
    await call("POST", f"/api/v1/users/{other.id}/deactivate", org.admin.headers)

    conn = await asyncpg.connect(database_url)
    try:
        hashes = [
            r["password_hash"]
            for r in await conn.fetch("SELECT password_hash FROM users WHERE org_id = $1", org.id)
        ]
        # a database error quoting a users row, as asyncpg reports it, formatted for the log
        try:
            await conn.execute(
                "INSERT INTO users (org_id, username, full_name, password_hash, role) "
                "VALUES ($1, 'x', NULL, $2, 'user')",
                org.id,
                hashes[0],
            )
        except asyncpg.NotNullViolationError:
            logging.getLogger("engine.errors").exception("unhandled error during POST /x")
    finally:
        await conn.close()
    assert len(hashes) == 4 and all(h.startswith("$2") for h in hashes)
    formatter = RedactingFormatter(logging.Formatter("%(message)s"))
    formatted = "\n".join(formatter.format(r) for r in caplog.records)
    assert hashes[0] in caplog.text, "the database error must really quote the hash"
    assert REDACTED in formatted
    for secret in hashes:
        assert not any(secret in t for t in texts), "a password hash in a response"
        assert secret not in formatted, "a password hash in the log"
    assert not any("$2b$" in t or "password_hash" in t for t in texts)
    for password in ("changed-password-1", "reset-password-1", "fresh-password-1", USER_PASSWORD):
        assert password not in caplog.text, "a password in the log"
    record(
        "secrets: responses and log lines scanned for password hashes",
        responses=len(texts),
        log_records=len(caplog.records),
        hashes_found=0,
    )
