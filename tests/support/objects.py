"""One object of every kind in an organization, built through the API, and the routes' map.

`populate(api, org)` creates a member, a chat, a human message, an AI message, a mention, a
document; `OrgObjects.ids` maps every path parameter name of the API to candidate values.
`ROUTE_BODIES` gives a valid request body for every route that takes one, so generated
requests get past validation and reach the authorisation code.

Both tables are checked against the app's routes: a route or path parameter they do not know
fails the generated tests, so new routes are never silently skipped.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI

from engine.models.proposal import PlannedWrite
from tests.support.api import Account, Api, Org, create_chat, post_message, wait_ai_message

# Path parameters that are not an object id of the target organization, with why.
NOT_AN_ID = {
    # role codes are names resolved inside the caller's organization (`lawyer` exists in
    # every organization): asking for one always answers the caller's own role
    "code",
}


@dataclass
class OrgObjects:
    org: Org
    ids: dict[str, list[str]]
    secrets: list[str] = field(default_factory=list)
    """Texts that only this organization's data contains (never an id echoed from a URL)."""

    @property
    def admin(self) -> Account:
        return self.org.admin

    @property
    def member(self) -> Account:
        return self.org.members[0]


async def populate(api: Api, org: Org, engine: Any, *, ai_timeout: float = 10.0) -> OrgObjects:
    """One of each kind in `org` (which needs one member); the AI message is finished.

    Everything goes through the API except the notification and the proposals: nothing in
    the API queues a notification directly (the scheduler does), and proposals come from an
    agent's tool call (the LLM here may be unreachable), so they are stored with the
    engine's own storages.
    """
    client = api.client
    tag = secrets.token_hex(4)
    member = org.members[0]
    chat_title = f"chat-secret-{tag}"
    chat = await create_chat(client, org.admin, member, title=chat_title)
    text = f"message-secret-{tag} @{member.username} @@lawyer"
    posted = await post_message(client, org.admin, chat["id"], text)
    ai_id = posted["ai_message_ids"][0]
    await wait_ai_message(client, member, chat["id"], ai_id, timeout=ai_timeout)
    doc_title = f"document-secret-{tag}"
    doc_text = f"document-body-secret-{tag}"
    document = await client.post(
        f"/api/v1/organizations/{org.id}/documents",
        headers=org.admin.headers,
        json={"title": doc_title, "content": doc_text},
    )
    assert document.status_code == 201, document.text
    profile = await client.patch(
        "/api/v1/users/me", headers=member.headers, json={"full_name": f"member-secret-{tag}"}
    )
    assert profile.status_code == 200, profile.text
    event_title = f"event-secret-{tag}"
    event = await client.post(
        "/api/v1/calendar/events",
        headers=org.admin.headers,
        json={
            "title": event_title,
            "description": f"event-body-secret-{tag}",
            "starts_at": "2031-05-01T09:00:00Z",
            "participants": [member.id],
        },
    )
    assert event.status_code == 201, event.text
    address = f"channel-secret-{tag}@example.com"
    channel = await client.post(
        "/api/v1/notifications/channels",
        headers=member.headers,
        json={"type": "email", "address": address},
    )
    assert channel.status_code == 201, channel.text
    tried = await client.post(
        f"/api/v1/notifications/channels/{channel.json()['id']}/test", headers=member.headers
    )
    assert tried.status_code == 200, tried.text  # a delivery-log entry (sent or not)
    notification_id = await engine.notifications.notify(
        uuid.UUID(org.id),
        uuid.UUID(member.id),
        subject=f"notification-secret-{tag}",
        body=f"notification-body-secret-{tag}",
        source="test",
    )
    proposal_ids = []
    for in_chat in (True, False):  # one on the AI answer, one of a proactive run
        proposal = await engine.storages.proposals.insert(
            uuid.UUID(org.id),
            PlannedWrite(
                tool="calendar",
                action="delete",
                target_type="calendar_event",
                target_id=event.json()["id"],
                target_version=event.json()["updated_at"],
                payload={"before": {"title": event_title}},
                summary=f"proposal-secret-{tag}",
            ),
            role_code="accountant",
            requested_by=uuid.UUID(member.id),
            chat_id=uuid.UUID(chat["id"]) if in_chat else None,
            message_id=ai_id if in_chat else None,
            calendar_run_id=None,
        )
        proposal_ids.append(str(proposal.id))
    return OrgObjects(
        org=org,
        ids={
            "org_id": [org.id],
            "user_id": [member.id, org.admin.id],
            "chat_id": [chat["id"]],
            "message_id": [str(posted["message"]["id"]), str(ai_id)],
            "document_id": [document.json()["id"]],
            "event_id": [event.json()["id"]],
            "channel_id": [channel.json()["id"]],
            "notification_id": [str(notification_id)],
            "proposal_id": proposal_ids,
        },
        secrets=[
            org.slug,
            org.id,
            member.id,
            org.admin.id,
            chat["id"],
            chat_title,
            f"message-secret-{tag}",
            doc_title,
            doc_text,
            document.json()["id"],
            f"member-secret-{tag}",
            event_title,
            f"event-body-secret-{tag}",
            event.json()["id"],
            address,
            channel.json()["id"],
            f"notification-secret-{tag}",
            f"notification-body-secret-{tag}",
            str(notification_id),
            f"proposal-secret-{tag}",
            *proposal_ids,
        ],
    )


# Values for query parameters: required ones must be here (a wide calendar range, so an
# event of another organization would show if it leaked); ids come from the target org.
QUERY_VALUES: dict[str, Callable[[OrgObjects], list[str]]] = {
    "start": lambda o: ["2000-01-01T00:00:00Z"],
    "end": lambda o: ["2100-01-01T00:00:00Z"],
    "scope": lambda o: ["org"],
    "include_archived": lambda o: ["true"],
    "user_id": lambda o: o.ids["user_id"],
    "notification_id": lambda o: o.ids["notification_id"],
    "after_id": lambda o: ["0"],
    "org_id": lambda o: o.ids["org_id"],
}


def query_variants(operation: Operation, target: OrgObjects) -> list[dict[str, str]]:
    """The required parameters, then each known optional one added with each value."""
    base: dict[str, str] = {}
    for name, required in operation.query:
        if required:
            if name not in QUERY_VALUES:
                raise AssertionError(
                    f"{operation.label}: required query parameter {name!r} is unknown; "
                    "add it to QUERY_VALUES (tests/support/objects.py)"
                )
            base[name] = QUERY_VALUES[name](target)[0]
    variants = [base]
    for name, required in operation.query:
        if not required and name in QUERY_VALUES:
            variants += [{**base, name: value} for value in QUERY_VALUES[name](target)]
    return variants


Body = Callable[[OrgObjects], dict[str, Any]]

# A valid body for every route taking one; `objects` is the organization the ids come from.
ROUTE_BODIES: dict[tuple[str, str], Body] = {
    ("POST", "/api/v1/auth/login"): lambda o: {
        "login": "nobody",
        "password": "wrong-password-1",
        "organization": o.org.slug,
    },
    ("POST", "/api/v1/auth/refresh"): lambda o: {"refresh_token": "not.a.token"},
    ("POST", "/api/v1/auth/logout"): lambda o: {"refresh_token": "not.a.token"},
    ("POST", "/api/v1/auth/password"): lambda o: {
        "current_password": "wrong-password-1",
        "new_password": "another-password-1",
    },
    ("POST", "/api/v1/organizations"): lambda o: {"slug": f"o-{secrets.token_hex(4)}", "name": "X"},
    ("PATCH", "/api/v1/organizations/{org_id}"): lambda o: {"name": "pwned"},
    ("POST", "/api/v1/users"): lambda o: {
        "username": f"u{secrets.token_hex(4)}",
        "password": "new-user-password-1",
    },
    ("PATCH", "/api/v1/users/me"): lambda o: {"full_name": "Me"},
    ("PATCH", "/api/v1/users/{user_id}"): lambda o: {"full_name": "pwned"},
    ("POST", "/api/v1/users/{user_id}/reset-password"): lambda o: {
        "new_password": "pwned-password-1"
    },
    ("POST", "/api/v1/chats"): lambda o: {"title": "new chat", "member_ids": []},
    ("PATCH", "/api/v1/chats/{chat_id}"): lambda o: {"title": "pwned"},
    ("POST", "/api/v1/chats/{chat_id}/members"): lambda o: {"user_id": o.ids["user_id"][0]},
    ("POST", "/api/v1/chats/{chat_id}/messages"): lambda o: {"content": "pwned @@lawyer"},
    ("PATCH", "/api/v1/chats/{chat_id}/messages/{message_id}"): lambda o: {"content": "pwned"},
    ("POST", "/api/v1/chats/{chat_id}/read"): lambda o: {"message_id": int(o.ids["message_id"][0])},
    ("POST", "/api/v1/calendar/preview"): lambda o: {
        "starts_at": "2031-06-01T09:00:00Z",
        "kind": "recurring",
        "cron": "0 9 * * *",
    },
    ("POST", "/api/v1/organizations/{org_id}/documents"): lambda o: {
        "title": "pwned",
        "content": "pwned",
    },
    ("POST", "/api/v1/calendar/events"): lambda o: {
        "title": "pwned",
        "starts_at": "2031-06-01T09:00:00Z",
        "participants": [o.ids["user_id"][0]],
    },
    ("PATCH", "/api/v1/calendar/events/{event_id}"): lambda o: {"title": "pwned"},
    ("POST", "/api/v1/notifications/channels"): lambda o: {
        "type": "email",
        "address": "pwned@example.com",
    },
    ("PATCH", "/api/v1/notifications/channels/{channel_id}"): lambda o: {"priority": 7},
}


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    params: tuple[str, ...]
    has_body: bool
    streams: bool
    secured: bool = True
    query: tuple[tuple[str, bool], ...] = ()
    """(name, required) of the query parameters."""

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"

    def body(self, objects: OrgObjects) -> dict[str, Any] | None:
        if not self.has_body:
            return None
        try:
            make = ROUTE_BODIES[(self.method, self.path)]
        except KeyError:
            raise AssertionError(
                f"{self.label} takes a body: add a valid one to ROUTE_BODIES "
                "(tests/support/objects.py)"
            ) from None
        return make(objects)

    def url(self, values: dict[str, str]) -> str:
        return self.path.format(**values)


def operations(app: FastAPI) -> list[Operation]:
    """Every method of every path in the app's OpenAPI schema."""
    found = []
    for path, methods in app.openapi()["paths"].items():
        for method, spec in methods.items():
            params = tuple(p["name"] for p in spec.get("parameters", []) if p["in"] == "path")
            query = tuple(
                (p["name"], bool(p.get("required")))
                for p in spec.get("parameters", [])
                if p["in"] == "query"
            )
            ok = spec.get("responses", {}).get("200", {}).get("content", {})
            found.append(
                Operation(
                    method=method.upper(),
                    path=path,
                    params=params,
                    has_body="requestBody" in spec,
                    streams="text/event-stream" in ok,
                    secured=bool(spec.get("security")),
                    query=query,
                )
            )
    return found


def id_combinations(operation: Operation, objects: OrgObjects) -> list[dict[str, str]]:
    """Every combination of `objects`' ids for the operation's path parameters.

    A parameter this module does not know fails: map it in `populate` or `NOT_AN_ID`.
    """
    combos: list[dict[str, str]] = [{}]
    for name in operation.params:
        if name in NOT_AN_ID:
            values = ["lawyer"]
        elif name in objects.ids:
            values = objects.ids[name]
        else:
            raise AssertionError(
                f"{operation.label}: path parameter {name!r} is unknown to the tenancy "
                "matrix; create such an object in tests/support/objects.py populate()"
            )
        combos = [{**c, name: v} for c in combos for v in values]
    return combos


async def send(
    client: httpx.AsyncClient,
    operation: Operation,
    caller: Account,
    values: dict[str, str],
    body: dict[str, Any] | None,
    query: dict[str, str] | None = None,
) -> httpx.Response:
    kwargs: dict[str, Any] = {"json": body} if body is not None else {}
    return await client.request(
        operation.method, operation.url(values), headers=caller.headers, params=query, **kwargs
    )
