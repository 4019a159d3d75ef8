"""Generated tenancy matrix: every route, every method, every id parameter, two organizations.

For every route with a path parameter, a user of org A (admin and plain member) asks for
each object of org B, and for every mix of A's and B's ids: always 404, and the answer holds
nothing of B. Every GET route called with A's own ids shows no row of B. Afterwards B's
objects are unchanged. Routes come from the app itself, so new routes are covered (or fail
until tests/support/objects.py knows their parameters and body).
"""

from __future__ import annotations

import itertools
import json
import re
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.support.api import USER_PASSWORD, Account, Api
from tests.support.figures import record
from tests.support.objects import (
    NOT_AN_ID,
    Operation,
    OrgObjects,
    id_combinations,
    operations,
    populate,
    query_variants,
    send,
)


@pytest.fixture(scope="module")
async def orgs(api: Api, app: FastAPI) -> tuple[OrgObjects, OrgObjects]:
    a = await populate(api, await api.create_org(members=1), app.state.engine)
    b = await populate(api, await api.create_org(members=1), app.state.engine)
    return a, b


def _mixed(operation: Operation, a: OrgObjects, b: OrgObjects) -> list[dict[str, str]]:
    """Path values where at least one id parameter is B's (the rest A's)."""
    names = [n for n in operation.params if n not in NOT_AN_ID]
    combos = []
    for owners in itertools.product((a, b), repeat=len(names)):
        if b not in owners:
            continue
        values: dict[str, str] = {}
        choices = []
        for name, owner in zip(names, owners, strict=True):
            choices.append([(name, v) for v in owner.ids[name]])
        for picked in itertools.product(*choices):
            values = dict(picked)
            values.update({n: "lawyer" for n in operation.params if n in NOT_AN_ID})
            combos.append(values)
    return combos


def _partly_own(values: dict[str, str], a: OrgObjects) -> bool:
    return any(v in ids for ids in a.ids.values() for v in values.values())


async def _same_as_nowhere(
    client: httpx.AsyncClient,
    operation: Operation,
    caller: Account,
    values: dict[str, str],
    body: dict[str, Any] | None,
    b: OrgObjects,
    response: httpx.Response,
) -> bool:
    """With A's own object in the path, A may get e.g. 403 for its own chat; that is fine
    only when B's id is indistinguishable from an id that exists nowhere."""
    b_ids = {v for ids in b.ids.values() for v in ids}
    nowhere = {
        k: (str(2**62 - 1) if v.isdigit() else str(uuid.uuid4())) if v in b_ids else v
        for k, v in values.items()
    }
    nowhere_body = _swap(body, b_ids, lambda v: str(uuid.uuid4())) if body is not None else None
    control = await send(client, operation, caller, nowhere, nowhere_body)
    if control.status_code != response.status_code:
        return False
    # an answer may echo the unknown id it was sent; compare with ids blanked out
    return _blank_ids(response.text) == _blank_ids(control.text)


def _swap(value: Any, ids: set[str], new: Callable[[str], str]) -> Any:
    """`value` with every string equal to one of `ids` replaced by `new(string)`."""
    if isinstance(value, str):
        return new(value) if value in ids else value
    if isinstance(value, list):
        return [_swap(v, ids, new) for v in value]
    if isinstance(value, dict):
        return {k: _swap(v, ids, new) for k, v in value.items()}
    return value


def _blank_ids(text: str) -> str:
    text = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<id>", text)
    return re.sub(r"\d+", "<n>", text)


def _leaks(response: httpx.Response, b: OrgObjects, sent: str) -> list[str]:
    """B's texts in the answer that the caller did not send itself."""
    return [s for s in b.secrets if s in response.text and s not in sent]


async def test_every_id_route_answers_404_for_another_orgs_objects(
    app: FastAPI, client: httpx.AsyncClient, orgs: tuple[OrgObjects, OrgObjects]
) -> None:
    a, b = orgs
    tried = 0
    problems: list[str] = []
    id_routes = [op for op in operations(app) if op.params]
    assert len(id_routes) >= 25, "the route table looks incomplete"
    for operation in id_routes:
        id_combinations(operation, b)  # fails on a parameter the matrix does not know
        if set(operation.params) <= NOT_AN_ID:
            continue
        for values in _mixed(operation, a, b):
            for caller in (a.admin, a.member):
                body = operation.body(b)
                response = await send(client, operation, caller, values, body)
                tried += 1
                sent = operation.url(values) + json.dumps(body)
                if response.status_code != 404 and not (
                    _partly_own(values, a)
                    and await _same_as_nowhere(client, operation, caller, values, body, b, response)
                ):
                    problems.append(
                        f"{caller.username} {operation.url(values)} ({operation.label}): "
                        f"{response.status_code} {response.text[:200]}"
                    )
                elif leaked := _leaks(response, b, sent):
                    problems.append(f"{operation.label}: 404 body holds {leaked}")
    record(
        "tenancy: org A asking for org B's objects",
        routes=len(id_routes),
        requests=tried,
        not_404=len(problems),
    )
    assert not problems, "\n".join(problems)
    await _assert_b_untouched(client, b)


async def test_ids_of_another_org_in_a_body_are_unknown(
    app: FastAPI, client: httpx.AsyncClient, orgs: tuple[OrgObjects, OrgObjects]
) -> None:
    """A's own routes with B's ids in the body (B's user added to A's chat, B's user as a
    participant of A's event): answered as for an id that exists nowhere."""
    a, b = orgs
    b_ids = {i for ids in b.ids.values() for i in ids}
    tried = 0
    problems: list[str] = []
    for operation in operations(app):
        body = operation.body(b)
        if not body or _swap(body, b_ids, lambda v: "") == body:
            continue  # no id of B in this body
        values = id_combinations(operation, a)[0]
        response = await send(client, operation, a.admin, values, body)
        tried += 1
        if response.status_code < 300:
            problems.append(f"{operation.label}: accepted B's id: {response.text[:200]}")
        elif response.status_code != 404 and not await _same_as_nowhere(
            client, operation, a.admin, values, body, b, response
        ):
            problems.append(f"{operation.label}: {response.status_code} {response.text[:200]}")
        elif leaked := _leaks(response, b, json.dumps(body)):
            problems.append(f"{operation.label}: answer holds {leaked}")
    record("tenancy: B's ids inside A's request bodies", requests=tried, accepted=len(problems))
    assert tried >= 2, "the body table lost its id-carrying bodies"
    assert not problems, "\n".join(problems)


async def test_every_read_route_shows_no_row_of_another_org(
    app: FastAPI, client: httpx.AsyncClient, orgs: tuple[OrgObjects, OrgObjects]
) -> None:
    a, b = orgs
    tried = 0
    problems: list[str] = []
    reads = [op for op in operations(app) if op.method == "GET" and not op.streams]
    shows_own: set[str] = set()
    for operation in reads:
        # query ids of B (e.g. the org log for B's user) are probes, never echoed rows
        for values, query in itertools.product(
            id_combinations(operation, a), query_variants(operation, b)
        ):
            for caller in (a.admin, a.member):
                response = await send(client, operation, caller, values, None, query)
                tried += 1
                assert response.status_code < 500, (operation.label, response.text)
                if any(mine in response.text for mine in a.secrets[5:]):
                    shows_own.add(operation.path)
                if leaked := _leaks(response, b, operation.url(values) + json.dumps(query)):
                    problems.append(f"{operation.url(values)} {query}: holds B's {leaked}")
    record(
        "tenancy: org A reading every GET route",
        routes=len(reads),
        requests=tried,
        rows_of_b=len(problems),
        routes_showing_own_rows=len(shows_own),
    )
    assert not problems, "\n".join(problems)
    # the same calls do show A's own rows, or the check above proves nothing
    for path in ("chats", "calendar/occurrences", "calendar/events", "notifications/log"):
        assert f"/api/v1/{path}" in shows_own, (path, sorted(shows_own))


async def _assert_b_untouched(client: httpx.AsyncClient, b: OrgObjects) -> None:
    h = b.admin.headers
    org = await client.get(f"/api/v1/organizations/{b.org.id}", headers=h)
    assert org.status_code == 200 and org.json()["is_active"] and org.json()["name"] != "pwned"
    for user_id in b.ids["user_id"]:
        user = await client.get(f"/api/v1/users/{user_id}", headers=h)
        assert user.status_code == 200 and user.json()["is_active"], user.text
        assert user.json()["full_name"] != "pwned"
    chat_id = b.ids["chat_id"][0]
    chat = (await client.get(f"/api/v1/chats/{chat_id}", headers=h)).json()
    assert not chat["is_archived"] and chat["title"] != "pwned"
    assert set(chat["member_ids"]) == set(b.ids["user_id"])
    listed = (await client.get(f"/api/v1/chats/{chat_id}/messages", headers=h)).json()["items"]
    assert sorted(str(m["id"]) for m in listed) == sorted(b.ids["message_id"])
    assert not any(m["is_edited"] or m["validation"] for m in listed)
    doc = await client.get(
        f"/api/v1/organizations/{b.org.id}/documents/{b.ids['document_id'][0]}", headers=h
    )
    assert doc.status_code == 200
    login: dict[str, Any] = {
        "login": b.member.username,
        "password": USER_PASSWORD,
        "organization": b.org.slug,
    }
    assert (await client.post("/api/v1/auth/login", json=login)).status_code == 200


def test_matrix_fails_on_a_route_it_does_not_know(orgs: tuple[OrgObjects, OrgObjects]) -> None:
    _, b = orgs
    future = Operation("GET", "/api/v1/things/{thing_id}", ("thing_id",), False, False)
    with pytest.raises(AssertionError, match="thing_id"):
        id_combinations(future, b)
    with_body = Operation("POST", "/api/v1/things", (), True, False)
    with pytest.raises(AssertionError, match="ROUTE_BODIES"):
        with_body.body(b)
