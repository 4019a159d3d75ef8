"""Hostile input on every route: always a clear 4xx with a JSON `detail`, never a 5xx.

Generated from the app's OpenAPI schema: every route taking a body gets oversized bodies
(declared and chunked), deeply nested JSON, invalid UTF-8, non-objects and a NUL in each of
its string fields; every integer query parameter gets negative, huge and non-numeric values;
every path parameter gets NUL, invalid UTF-8, overflowing and very long values; headers get
NUL and invalid bytes.
"""

from __future__ import annotations

import collections
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from engine.middleware import MAX_BODY_BYTES
from tests.support.api import Api
from tests.support.figures import record
from tests.support.objects import Operation, OrgObjects, id_combinations, operations, populate

JSON = {"content-type": "application/json"}
DEPTH = 100_000


@pytest.fixture(scope="module")
async def own(api: Api, app: FastAPI) -> OrgObjects:
    return await populate(api, await api.create_org(members=1), app.state.engine)


class Tally:
    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()
        self.problems: list[str] = []

    def check(self, what: str, response: httpx.Response, allowed: range = range(400, 500)) -> None:
        self.counts["requests"] += 1
        self.counts[f"{response.status_code // 100}xx"] += 1
        problem = None
        if response.status_code not in allowed:
            problem = f"status {response.status_code}"
        elif "Traceback" in response.text:
            problem = "traceback in the answer"
        else:
            try:
                body = response.json()
                if "detail" not in body:
                    problem = "no detail"
            except ValueError:
                problem = "not JSON"
        if problem:
            self.problems.append(f"{what}: {problem}: {response.text[:200]}")


def _with_nul(value: Any) -> list[Any]:
    """Copies of a JSON value, each with a NUL put into one of its strings."""
    if isinstance(value, str):
        return [value + "\x00", "\x00" + value]
    if isinstance(value, dict):
        return [{**value, k: v} for k, sub in value.items() for v in _with_nul(sub)]
    if isinstance(value, list):
        return [
            [*value[:i], v, *value[i + 1 :]] for i, sub in enumerate(value) for v in _with_nul(sub)
        ]
    return []


async def _chunks(size: int) -> AsyncIterator[bytes]:
    sent = 0
    while sent < size:
        yield b" " * 65536
        sent += 65536


def _hostile_bodies(valid: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    huge = b'{"x": "' + b"a" * (MAX_BODY_BYTES + 10) + b'"}'
    nested = b'{"content": ' + b"[" * DEPTH + b"]" * DEPTH + b"}"
    nested_obj = b'{"content": ' + b'{"a":' * DEPTH + b"1" + b"}" * DEPTH + b"}"
    cases: list[tuple[str, dict[str, Any]]] = [
        ("oversized, declared", {"content": huge}),
        ("oversized, chunked", {"content": _chunks(MAX_BODY_BYTES + 65536)}),
        ("nested arrays", {"content": nested}),
        ("nested objects", {"content": nested_obj}),
        ("invalid UTF-8", {"content": b'{"x": "\xff\xfe\xfa"}'}),
        (
            "invalid UTF-8 in a field",
            {"content": json.dumps(valid).encode()[:-1] + b', "\xc3\x28": 1}'},
        ),
        ("lone surrogate", {"content": b'{"x": "\\ud800"}'}),
        ("not JSON", {"content": b"{not json"}),
        ("empty", {"content": b""}),
        ("array", {"content": b"[]"}),
        ("null", {"content": b"null"}),
        ("huge number", {"content": b'{"x": 1e400}'}),
        ("unknown field", {"json": {**valid, "zzz_unknown": 1}}),
    ]
    cases += [
        (f"NUL in {json.dumps(v, ensure_ascii=True)[:60]}", {"json": v}) for v in _with_nul(valid)
    ]
    return cases


async def test_every_body_route_refuses_hostile_bodies(
    app: FastAPI, client: httpx.AsyncClient, own: OrgObjects
) -> None:
    tally = Tally()
    routes = [op for op in operations(app) if op.has_body]
    for operation in routes:
        values = id_combinations(operation, own)[0]
        valid = operation.body(own)
        assert valid is not None
        for what, kwargs in _hostile_bodies(valid):
            response = await client.request(
                operation.method,
                operation.url(values),
                headers={**own.admin.headers, **JSON},
                **kwargs,
            )
            tally.check(f"{operation.label} {what}", response)
    record(
        "hostile bodies on every body route",
        routes=len(routes),
        **tally.counts,
        not_4xx=len(tally.problems),
    )
    assert not tally.problems, "\n".join(tally.problems[:30])


def _query_params(app: FastAPI, kind: str) -> list[tuple[Operation, str]]:
    spec = app.openapi()["paths"]
    found = []
    for operation in operations(app):
        for param in spec[operation.path][operation.method.lower()].get("parameters", []):
            schema = param.get("schema", {})
            types = {schema.get("type")} | {s.get("type") for s in schema.get("anyOf", [])}
            if param["in"] == "query" and kind in types:
                found.append((operation, param["name"]))
    return found


async def test_page_sizes_and_query_parameters_are_bounded(
    app: FastAPI, client: httpx.AsyncClient, own: OrgObjects
) -> None:
    tally = Tally()
    params = _query_params(app, "integer")
    assert {name for _, name in params} >= {"limit", "offset", "before_id", "after_id"}
    hostile = [
        "-1",
        "-9223372036854775809",
        "9223372036854775808",
        "10" + "0" * 40,
        "1e3",
        "1.5",
        "NaN",
        "abc",
        "",
        "\x00",
        "%ff",
    ]
    for operation, name in params:
        values = id_combinations(operation, own)[0]
        for value in hostile:
            response = await client.request(
                operation.method,
                operation.url(values),
                headers=own.admin.headers,
                params={name: value},
                timeout=5,
            )
            tally.check(f"{operation.label} ?{name}={value!r}", response, range(422, 423))
    for operation, name in _query_params(app, "string"):
        values = id_combinations(operation, own)[0]
        for value in ("\x00", "a\x00b", "x" * 5000):
            response = await client.request(
                operation.method,
                operation.url(values),
                headers=own.admin.headers,
                params={name: value},
            )
            tally.check(f"{operation.label} ?{name}={value[:10]!r}", response, range(422, 423))
    # the biggest page allowed is served; one more is refused
    users = await client.get("/api/v1/users", headers=own.admin.headers, params={"limit": 200})
    assert users.status_code == 200
    tally.check(
        "limit=201",
        await client.get("/api/v1/users", headers=own.admin.headers, params={"limit": 201}),
        range(422, 423),
    )
    record(
        "hostile query parameters",
        parameters=len(params),
        **tally.counts,
        not_422=len(tally.problems),
    )
    assert not tally.problems, "\n".join(tally.problems[:30])


async def test_hostile_path_parameters_and_headers(
    app: FastAPI, client: httpx.AsyncClient, own: OrgObjects
) -> None:
    tally = Tally()
    hostile = [
        "%00",
        "a%00b",
        "%ff%fe",
        "-1",
        "0",
        "99999999999999999999999",
        "9223372036854775808",
        "x" * 5000,
        "%2e%2e",
        "null",
        "' OR 1=1 --",
    ]
    id_routes = [op for op in operations(app) if op.params and not op.streams]
    for operation in id_routes:
        base = id_combinations(operation, own)[0]
        body = operation.body(own)
        for name in operation.params:
            for value in hostile:
                url = operation.url({**base, name: "PLACEHOLDER"}).replace("PLACEHOLDER", value)
                kwargs: dict[str, Any] = {"json": body} if body is not None else {}
                response = await client.request(
                    operation.method, url, headers=own.admin.headers, **kwargs
                )
                tally.check(f"{operation.label} {name}={value[:20]!r}", response)
    headers_cases: list[dict[str, Any]] = [
        {"authorization": b"Bearer \x00abc"},
        {"authorization": b"Bearer \xff\xfe"},
        {"authorization": b"Bearer " + b"a" * 8000},
        {"authorization": b"Bearer a.b.c"},
        {**own.admin.headers, "x-request-id": b"\xff\xfe\x00"},
    ]
    for headers in headers_cases:
        response = await client.get("/api/v1/users", headers=headers)
        ok = response.status_code == 200 and "x-request-id" in headers
        if not ok:
            tally.check(f"headers {list(headers)}", response)
    record(
        "hostile path parameters and headers",
        routes=len(id_routes),
        **tally.counts,
        not_4xx=len(tally.problems),
    )
    assert not tally.problems, "\n".join(tally.problems[:30])


async def test_chunked_oversized_body_is_413(client: httpx.AsyncClient, own: OrgObjects) -> None:
    # regression: a body without Content-Length over the limit was a 400 "error parsing"
    response = await client.post(
        "/api/v1/users",
        headers={**own.admin.headers, **JSON},
        content=_chunks(MAX_BODY_BYTES + 65536),
    )
    assert response.status_code == 413
    assert response.json() == {"detail": "request body too large"}
