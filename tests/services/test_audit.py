"""The audit trail: what is recorded, who reads it, and that a change never lands without
its row (same transaction)."""

from __future__ import annotations

import secrets
import time
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from engine.services.engine import EngineService
from engine.storage.postgres.tenancy import APP_ROLE
from tests.support.api import USER_PASSWORD, Account, Api, Org, create_chat
from tests.support.figures import record

AUDIT = "/api/v1/audit"


@pytest.fixture
async def org(api: Api) -> Org:
    return await api.create_org(members=2)


async def _entries(client: httpx.AsyncClient, who: Account, **params: Any) -> list[dict[str, Any]]:
    response = await client.get(AUDIT, headers=who.headers, params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_logins_and_failed_logins_carry_request_id_and_address(api: Api, org: Org) -> None:
    client = api.client
    member = org.members[0]
    request_id = f"req-{secrets.token_hex(4)}"
    ok = await client.post(
        "/api/v1/auth/login",
        headers={"X-Request-Id": request_id},
        json={"login": member.username, "password": USER_PASSWORD, "organization": org.slug},
    )
    assert ok.status_code == 200
    bad = await client.post(
        "/api/v1/auth/login",
        json={"login": member.username, "password": "wrong-password", "organization": org.slug},
    )
    assert bad.status_code == 401

    (login, *_) = await _entries(client, org.admin, action="auth.login", actor_id=member.id)
    assert login["request_id"] == request_id
    assert login["client_ip"] == "127.0.0.1"
    assert login["target_id"] == member.id
    (failed,) = await _entries(client, org.admin, action="auth.login_failed")
    assert failed["actor_id"] is None and failed["target_id"] == member.id
    assert failed["details"]["login"] == member.username
    assert "wrong-password" not in str(failed)


async def test_administration_membership_documents_are_recorded(api: Api, org: Org) -> None:
    client = api.client
    alice, bob = org.members
    promoted = await client.patch(
        f"/api/v1/users/{bob.id}", headers=org.admin.headers, json={"role": "admin"}
    )
    assert promoted.status_code == 200, promoted.text
    chat = await create_chat(client, alice, bob)
    removed = await client.delete(
        f"/api/v1/chats/{chat['id']}/members/{bob.id}", headers=alice.headers
    )
    assert removed.status_code == 204
    uploaded = await client.post(
        f"/api/v1/organizations/{org.id}/documents",
        headers=org.admin.headers,
        json={"title": "Регламент", "content": "Текст регламента."},
    )
    assert uploaded.status_code == 201, uploaded.text
    cleared = await client.post("/api/v1/roles/admin/cache/clear", headers=org.admin.headers)
    assert cleared.status_code == 200, cleared.text

    actions = [e["action"] for e in await _entries(client, org.admin, limit=200)]
    for expected in (
        "organization.created",
        "user.created",
        "user.updated",
        "chat.created",
        "chat.member_removed",
        "document.created",
        "prompts.cache_cleared",
    ):
        assert expected in actions, (expected, actions)
    (role_change,) = await _entries(client, org.admin, action="user.updated", target_id=bob.id)
    assert role_change["details"]["role"] == {"from": "user", "to": "admin"}
    assert role_change["actor_id"] == org.admin.id


async def test_each_org_reads_only_its_own_log_and_pages_by_id(api: Api, org: Org) -> None:
    client = api.client
    other = await api.create_org(members=1)
    for _ in range(3):
        await client.post(
            "/api/v1/notifications/channels",
            headers=org.members[0].headers,
            json={"type": "email", "address": f"{secrets.token_hex(3)}@example.com"},
        )
    mine = await _entries(client, org.admin, limit=200)
    assert mine and {e["org_id"] for e in mine} == {org.id}
    assert [e["id"] for e in mine] == sorted((e["id"] for e in mine), reverse=True)

    first = await client.get(AUDIT, headers=org.admin.headers, params={"limit": 2})
    page = first.json()
    assert len(page["items"]) == 2 and page["next_before_id"] == page["items"][-1]["id"]
    second = await _entries(client, org.admin, limit=2, before_id=page["next_before_id"])
    assert all(e["id"] < page["next_before_id"] for e in second)
    channels = await _entries(client, org.admin, action="channel.created")
    assert len(channels) == 3

    refused = await client.get(AUDIT, headers=org.admin.headers, params={"org_id": other.id})
    assert refused.status_code == 404
    assert (await client.get(AUDIT, headers=org.members[0].headers)).status_code == 403
    theirs = await _entries(client, other.admin, action="channel.created")
    assert theirs == []

    root = await api.system_admin()
    everyone = await _entries(client, root, action="organization.created", limit=200)
    assert {org.id, other.id} <= {e["org_id"] for e in everyone}
    only = await _entries(client, root, org_id=other.id, limit=200)
    assert only and {e["org_id"] for e in only} == {other.id}


async def test_bad_filters_are_a_clear_4xx(api: Api, org: Org) -> None:
    for params in ({"action": "user\x00created"}, {"before_id": "0"}, {"since": "yesterday"}):
        response = await api.client.get(AUDIT, headers=org.admin.headers, params=params)
        assert response.status_code == 422, (params, response.text)


async def test_a_change_whose_audit_row_fails_is_rolled_back(
    api: Api, app: FastAPI, org: Org, database_url: str
) -> None:
    """The audit insert is made to fail (a constraint refusing one title): the calendar
    event it would record must not exist either."""
    client = api.client
    owner = org.members[0]
    title = f"audit-fails-{secrets.token_hex(4)}"
    admin = await asyncpg.connect(database_url)
    try:
        await admin.execute(
            "ALTER TABLE audit_log ADD CONSTRAINT audit_refuses_test_title "
            f"CHECK (coalesce(details->>'title', '') <> '{title}') NOT VALID"
        )
        # answered as a real server would: a 500, not the exception raised into the test
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://engine") as raw:
                created = await raw.post(
                    "/api/v1/calendar/events",
                    headers=owner.headers,
                    json={"title": title, "starts_at": "2026-12-30T10:00:00Z"},
                )
        finally:
            await admin.execute("ALTER TABLE audit_log DROP CONSTRAINT audit_refuses_test_title")
    finally:
        await admin.close()
    assert created.status_code == 500, created.text
    events = await client.get("/api/v1/calendar/events", headers=owner.headers)
    assert [e for e in events.json() if e["title"] == title] == []

    again = await client.post(
        "/api/v1/calendar/events",
        headers=owner.headers,
        json={"title": title, "starts_at": "2026-12-30T10:00:00Z"},
    )
    assert again.status_code == 201
    (row,) = await _entries(client, org.admin, action="calendar.event_created", actor_id=owner.id)
    assert row["target_id"] == again.json()["id"]
    record(
        "audit: a calendar write whose audit insert fails",
        status=created.status_code,
        events_committed=0,
        retried_with_audit=1,
    )


async def test_cost_of_an_audit_row_on_a_write(app: FastAPI, org: Org) -> None:
    """What one audit row adds to a write transaction (the figure in docs/reliability.md)."""
    engine: EngineService = app.state.engine
    rounds = 200

    async def timed(with_audit: bool) -> float:
        started = time.perf_counter()
        for index in range(rounds):
            async with engine.db.tenant(UUID(org.id)).transaction() as conn:
                await conn.execute(
                    "UPDATE organizations SET updated_at = now() WHERE id = $1", UUID(org.id)
                )
                if with_audit:
                    await engine.audit.record(
                        conn,
                        org_id=UUID(org.id),
                        actor=None,
                        action="test.cost",
                        target_type="organization",
                        target_id=org.id,
                        details={"round": index},
                    )
        return (time.perf_counter() - started) * 1000 / rounds

    await timed(True)  # warm up: plans, pool
    plain = min([await timed(False) for _ in range(3)])
    audited = min([await timed(True) for _ in range(3)])
    record(
        "audit: one-row write transaction, with and without its audit row",
        rounds=rounds,
        plain_ms=round(plain, 3),
        with_audit_ms=round(audited, 3),
        added_ms=round(audited - plain, 3),
    )
    assert audited - plain < 5.0


async def test_the_engine_cannot_update_or_delete_audit_rows(app: FastAPI, org: Org) -> None:
    """Enforced by the runtime role's grants (SELECT, INSERT only on audit_log)."""
    engine: EngineService = app.state.engine
    async with engine.db.tenant(UUID(org.id)).connection() as conn:
        assert await conn.fetchval("SELECT current_user") == APP_ROLE
        assert await conn.fetchval(
            "SELECT has_table_privilege(current_user, 'audit_log', 'INSERT')"
        )
        assert not await conn.fetchval(
            "SELECT has_table_privilege(current_user, 'audit_log', 'UPDATE')"
        )
        assert await conn.fetchval("SELECT count(*) FROM audit_log WHERE org_id = $1", org.id) > 0
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("UPDATE audit_log SET action = 'x' WHERE org_id = $1", org.id)
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("DELETE FROM audit_log WHERE org_id = $1", org.id)
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("TRUNCATE audit_log")
