from __future__ import annotations

import httpx

from tests.support.api import Api


async def test_health_reports_db_and_unreachable_llm(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/health")
    assert response.status_code == 200
    body = response.json()
    assert body["database"]["ok"] is True
    assert body["llm"]["reachable"] is False and body["llm"]["provider"] == "ollama"
    assert body["status"] == "degraded"
    assert body["ai"]["llm_in_flight"] == 0 and body["ai"]["llm_max_concurrency"] >= 1
    assert response.headers["x-request-id"]


async def test_unknown_route_and_method(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/v1/nothing-here")
    assert missing.status_code == 404 and missing.json() == {"detail": "not found"}
    wrong_method = await client.put("/api/v1/health")
    assert wrong_method.status_code == 405 and "detail" in wrong_method.json()


async def test_malformed_bodies_are_clear_4xx(api: Api, client: httpx.AsyncClient) -> None:
    org = await api.create_org(members=0)
    headers = {**org.admin.headers, "content-type": "application/json"}
    bodies = [
        b"{not json",
        b"\xff\xfe\xfa invalid utf-8",
        b'{"username": "a\\u0000b", "password": "secret-pass-1"}',
        b'{"username": ' + b"[" * 5000 + b"]" * 5000 + b', "password": "x"}',
        b"[]",
        b"null",
        b'{"username": 12, "password": ["x"]}',
        b"",
    ]
    for raw in bodies:
        response = await client.post("/api/v1/users", headers=headers, content=raw)
        assert 400 <= response.status_code < 500, (raw[:40], response.status_code, response.text)
        assert "detail" in response.json()
        assert "Traceback" not in response.text


async def test_oversized_body_is_413(api: Api, client: httpx.AsyncClient) -> None:
    org = await api.create_org(members=0)
    huge = b'{"username": "' + b"a" * (2 * 1024 * 1024) + b'"}'
    response = await client.post(
        "/api/v1/users",
        headers={**org.admin.headers, "content-type": "application/json"},
        content=huge,
    )
    assert response.status_code == 413 and response.json() == {"detail": "request body too large"}


async def test_bad_path_ids_are_422(api: Api, client: httpx.AsyncClient) -> None:
    org = await api.create_org(members=0)
    for url in ("/api/v1/users/not-a-uuid", "/api/v1/organizations/123", "/api/v1/users/%00"):
        response = await client.get(url, headers=org.admin.headers)
        assert response.status_code in (404, 422), url
        assert "detail" in response.json()
