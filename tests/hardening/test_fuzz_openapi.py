"""Property-based fuzzing of the whole OpenAPI schema with schemathesis, on a real database.

The app runs with its lifespan (schemathesis' ASGI transport starts it in its own event loop)
against the suite's PostgreSQL. Every operation gets positive and negative generated requests
as an organization admin; for operations with path ids, a third of the positive requests aim
at real objects of the caller's organization so the fuzzer gets past the 404 of a random id.

Checks: no 5xx (and no exception escaping the app), every status documented, every response
body valid against its documented schema, documented content types.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Callable
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.generation import GenerationMode
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from engine.app import API_PREFIX, create_app
from engine.config import Settings
from tests.conftest import SYSTEM_ADMIN_PASSWORD
from tests.support.api import ADMIN_PASSWORD, USER_PASSWORD
from tests.support.figures import record

MIN_REQUESTS = 2000
EXAMPLES_PER_OPERATION = int(os.environ.get("FUZZ_EXAMPLES_PER_OPERATION", "48"))
FUZZ_SEED = int(os.environ.get("FUZZ_SEED", "20251124"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    content_type_conformance,
]


def _login(http: Any, login: str, password: str, organization: str) -> dict[str, str]:
    response = http.post(
        f"{API_PREFIX}/auth/login",
        json={"login": login, "password": password, "organization": organization},
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _created(response: Any) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def seed_organization(http: Any) -> tuple[dict[str, str], dict[str, Any]]:
    """An organization with one object of each kind; returns the admin's headers and ids."""
    root = _login(http, "admin", SYSTEM_ADMIN_PASSWORD, "system")
    org = _created(
        http.post(
            f"{API_PREFIX}/organizations",
            headers=root,
            json={
                "slug": "fuzz-org",
                "name": "Fuzz",
                "admin": {"username": "boss", "password": ADMIN_PASSWORD},
            },
        )
    )
    admin = _login(http, "boss", ADMIN_PASSWORD, "fuzz-org")
    member = _created(
        http.post(
            f"{API_PREFIX}/users",
            headers=admin,
            json={"username": "member", "password": USER_PASSWORD},
        )
    )
    chat = _created(
        http.post(
            f"{API_PREFIX}/chats",
            headers=admin,
            json={"title": "fuzz", "member_ids": [member["id"]]},
        )
    )
    posted = _created(
        http.post(
            f"{API_PREFIX}/chats/{chat['id']}/messages",
            headers=admin,
            json={"content": "hello @member @@lawyer"},
        )
    )
    document = _created(
        http.post(
            f"{API_PREFIX}/organizations/{org['id']}/documents",
            headers=admin,
            json={"title": "Doc", "content": "text"},
        )
    )
    known = {
        "org_id": org["id"],
        "user_id": member["id"],
        "chat_id": chat["id"],
        "message_id": posted["message"]["id"],
        "document_id": document["id"],
        "code": "lawyer",
    }
    return admin, known


def fuzz_operation(
    label: str,
    cases: st.SearchStrategy[Any],
    headers: dict[str, str],
    stats: collections.Counter[str],
    failures: list[str],
) -> None:
    @seed(FUZZ_SEED)
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases)
    def fuzz(case: Any) -> None:
        stats["requests"] += 1
        try:
            response = case.call(headers=headers)
        except Exception as exc:  # the app raised: uvicorn would answer 500
            stats["5xx"] += 1
            failures.append(f"{label}: {exc!r}\n{case.as_curl_command()}")
            return
        stats[f"{response.status_code // 100}xx"] += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except BaseExceptionGroup as exc:
            failures.append(f"{label}: {exc}")

    fuzz()


def test_fuzz_whole_openapi_schema(make_settings: Callable[..., Settings]) -> None:
    app = create_app(make_settings())
    config = SchemathesisConfig.from_dict({"max-stream-events": 1, "request-timeout": 10})
    schema = schemathesis.openapi.from_asgi(f"{API_PREFIX}/openapi.json", app, config=config)
    stats: collections.Counter[str] = collections.Counter()
    failures: list[str] = []
    operations = 0
    try:
        with asgi.get_client(app) as http:
            headers, known = seed_organization(http)
        for result in schema.get_all_operations():
            operation = result.ok()
            operations += 1
            real = {p.name: known[p.name] for p in operation.path_parameters if p.name in known}
            strategies = [operation.as_strategy(generation_mode=mode) for mode in GenerationMode]
            if real:
                strategies.append(operation.as_strategy(path_parameters=real))

            fuzz_operation(operation.label, st.one_of(strategies), headers, stats, failures)
    finally:
        asgi.shutdown_lifespans()
    record(
        "fuzz: schemathesis over the OpenAPI schema",
        operations=operations,
        requests=stats["requests"],
        responses_2xx=stats["2xx"],
        responses_4xx=stats["4xx"],
        responses_5xx=stats["5xx"],
        check_failures=len(failures),
    )
    assert not failures, "\n\n".join(failures[:10])
    assert stats["5xx"] == 0
    assert stats["requests"] >= MIN_REQUESTS, stats
