"""Regressions for what the fuzzing, fault and load scenarios found."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import asyncpg
import bcrypt
import httpx
import pytest
from fastapi import FastAPI

from engine.logging_setup import REDACTED, configure_logging
from tests.support.api import Api


async def test_null_for_a_not_null_field_is_422_not_500(
    api: Api, client: httpx.AsyncClient
) -> None:
    # Found by fuzzing: `{"full_name": null}` reached the NOT NULL column and answered 500.
    org = await api.create_org(members=1)
    member = org.members[0]
    cases = [
        ("/api/v1/users/me", member.headers, {"full_name": None}),
        (f"/api/v1/users/{member.id}", org.admin.headers, {"full_name": None}),
        (f"/api/v1/users/{member.id}", org.admin.headers, {"role": None}),
        (f"/api/v1/users/{member.id}", org.admin.headers, {"is_active": None}),
    ]
    for url, headers, body in cases:
        response = await client.patch(url, headers=headers, json=body)
        assert response.status_code == 422, (url, body, response.text)
        assert "must not be null" in response.text
    # `email: null` still clears the email, and leaving fields out changes nothing
    set_email = await client.patch(
        "/api/v1/users/me", headers=member.headers, json={"email": "m@example.com"}
    )
    assert set_email.status_code == 200 and set_email.json()["email"] == "m@example.com"
    cleared = await client.patch("/api/v1/users/me", headers=member.headers, json={"email": None})
    assert cleared.status_code == 200 and cleared.json()["email"] is None
    unchanged = await client.patch("/api/v1/users/me", headers=member.headers, json={})
    assert unchanged.status_code == 200 and unchanged.json()["full_name"] == ""


async def test_schema_documents_errors_and_the_event_stream(client: httpx.AsyncClient) -> None:
    # Found by fuzzing: 401/403/404/409/429 and the SSE media type were undocumented.
    schema = (await client.get("/api/v1/openapi.json")).json()
    user_ops = schema["paths"]["/api/v1/users/{user_id}"]
    for method in ("get", "patch", "delete"):
        responses = user_ops[method]["responses"]
        assert {"401", "403", "404", "422", "503"} <= set(responses), method
    error = schema["components"]["schemas"]["ErrorOut"]
    assert "detail" in error["required"]
    events = schema["paths"]["/api/v1/chats/{chat_id}/events"]["get"]["responses"]["200"]
    assert list(events["content"]) == ["text/event-stream"]


async def test_connection_left_half_way_by_a_restart_is_503(
    api: Api, client: httpx.AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found by the PostgreSQL restart scenario: a pooled connection whose session the server
    # ended mid-operation raised asyncpg's InternalClientError, answered 500.
    org = await api.create_org(members=0)
    users = app.state.engine.storages.users

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise asyncpg.exceptions.InternalClientError(
            "cannot switch to state 12; another operation (2) is in progress"
        )

    monkeypatch.setattr(users, "list_page", broken)
    response = await client.get("/api/v1/users", headers=org.admin.headers)
    assert response.status_code == 503 and response.headers["retry-after"]
    assert response.json() == {"detail": "database temporarily unavailable"}


async def test_calendar_times_at_datetime_limits_are_422(
    api: Api, client: httpx.AsyncClient
) -> None:
    # Found by fuzzing: years near 1 and 9999 overflowed the schedule arithmetic (500).
    org = await api.create_org(members=0)
    h = org.admin.headers
    bodies = [
        {
            "title": "x",
            "starts_at": "0001-01-01T00:00:00Z",
            "kind": "recurring",
            "cron": "0 9 * * *",
        },
        {"title": "x", "starts_at": "9999-12-31T23:00:00-12:00"},
        {"title": "x", "starts_at": "9999-12-31T20:00:00", "timezone": "Pacific/Kiritimati"},
        {"title": "x", "starts_at": "2030-01-01T00:00:00Z", "ends_at": "9999-12-31T23:59:59Z"},
    ]
    for body in bodies:
        response = await client.post("/api/v1/calendar/events", headers=h, json=body)
        assert response.status_code == 422, (body, response.text)
        assert "between 1900 and 2999" in response.text
    event = await client.post(
        "/api/v1/calendar/events",
        headers=h,
        json={
            "title": "daily",
            "starts_at": "2030-01-01T09:00:00Z",
            "kind": "recurring",
            "cron": "0 9 * * *",
        },
    )
    assert event.status_code == 201
    for start, end in (
        ("0014-01-01T09:24:00Z", "2000-01-10T21:00:18+01:00"),
        ("2030-01-01T00:00:00Z", "9999-12-31T23:59:59-12:00"),
    ):
        occurrences = await client.get(
            "/api/v1/calendar/occurrences", headers=h, params={"start": start, "end": end}
        )
        assert occurrences.status_code == 422, occurrences.text
    fine = await client.get(
        "/api/v1/calendar/occurrences",
        headers=h,
        params={"start": "2030-01-01T00:00:00Z", "end": "2030-01-03T00:00:00Z"},
    )
    assert fine.status_code == 200 and len(fine.json()) == 2


@pytest.mark.usefixtures("restore_root_logger")
@pytest.mark.parametrize("log_format", ["text", "json"])
def test_log_files_never_hold_a_password_hash(tmp_path: Path, log_format: str) -> None:
    # Found by the access suite: a database error quoting a users row ("Failing row
    # contains (..., $2b$12$..., ...)") wrote the password hash into the log.
    digest = bcrypt.hashpw(b"secret-password-1", bcrypt.gensalt(4)).decode()
    log_file = configure_logging("INFO", tmp_path, log_format=log_format)
    assert log_file is not None
    try:
        raise RuntimeError(f"Failing row contains (x, {digest}, admin)")
    except RuntimeError:
        logging.getLogger("engine.errors").exception("unhandled error: %s", digest)
    text = log_file.read_text(encoding="utf-8")
    assert "Failing row contains" in text and REDACTED in text
    assert digest not in text and digest[:29] not in text
