"""Build real data through the public HTTP API: organizations, users, tokens."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

import httpx

ADMIN_PASSWORD = "admin-password-123"
USER_PASSWORD = "user-password-123"


@dataclass
class Account:
    id: str
    username: str
    password: str
    access_token: str
    refresh_token: str
    org_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


@dataclass
class Org:
    id: str
    slug: str
    admin: Account
    members: list[Account] = field(default_factory=list)


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


class Api:
    """Thin helpers over an httpx client bound to the app."""

    def __init__(self, client: httpx.AsyncClient, system_admin_password: str) -> None:
        self.client = client
        self.system_admin_password = system_admin_password
        self._system_admin: Account | None = None

    async def login(
        self, login: str, password: str, organization: str | None = None
    ) -> httpx.Response:
        body: dict[str, Any] = {"login": login, "password": password}
        if organization:
            body["organization"] = organization
        return await self.client.post("/api/v1/auth/login", json=body)

    async def account(self, login: str, password: str, organization: str | None = None) -> Account:
        response = await self.login(login, password, organization)
        assert response.status_code == 200, response.text
        data = response.json()
        return Account(
            id=data["user"]["id"],
            username=data["user"]["username"],
            password=password,
            access_token=data["access_token"],
            refresh_token=data["refresh_token"],
            org_id=data["user"]["org_id"],
        )

    async def system_admin(self) -> Account:
        if self._system_admin is None:
            self._system_admin = await self.account(
                "admin", self.system_admin_password, organization="system"
            )
        return self._system_admin

    async def create_org(self, members: int = 1) -> Org:
        root = await self.system_admin()
        slug = unique("org")
        response = await self.client.post(
            "/api/v1/organizations",
            headers=root.headers,
            json={
                "slug": slug,
                "name": f"Org {slug}",
                "admin": {
                    "username": "boss",
                    "password": ADMIN_PASSWORD,
                    "email": "boss@example.com",
                },
            },
        )
        assert response.status_code == 201, response.text
        org_id = response.json()["id"]
        admin = await self.account("boss", ADMIN_PASSWORD, organization=slug)
        org = Org(id=org_id, slug=slug, admin=admin)
        for index in range(members):
            org.members.append(await self.create_member(org, f"user{index + 1}"))
        return org

    async def create_member(self, org: Org, username: str, **extra: Any) -> Account:
        response = await self.client.post(
            "/api/v1/users",
            headers=org.admin.headers,
            json={"username": username, "password": USER_PASSWORD, **extra},
        )
        assert response.status_code == 201, response.text
        return await self.account(username, USER_PASSWORD, organization=org.slug)


async def create_chat(
    client: httpx.AsyncClient, owner: Account, *members: Account, title: str = "Рабочий чат"
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/chats",
        headers=owner.headers,
        json={"kind": "group", "title": title, "member_ids": [m.id for m in members]},
    )
    assert response.status_code == 201, response.text
    return response.json()


async def post_message(
    client: httpx.AsyncClient, author: Account, chat_id: str, content: str
) -> dict[str, Any]:
    response = await client.post(
        f"/api/v1/chats/{chat_id}/messages", headers=author.headers, json={"content": content}
    )
    assert response.status_code == 201, response.text
    return response.json()


async def wait_ai_message(
    client: httpx.AsyncClient,
    reader: Account,
    chat_id: str,
    message_id: int,
    timeout: float = 10.0,
) -> dict[str, Any]:
    """Poll the message until its AI work is finished (done or failed)."""
    from tests.fakes.waiting import wait_for

    async def finished() -> dict[str, Any] | None:
        response = await client.get(
            f"/api/v1/chats/{chat_id}/messages/{message_id}", headers=reader.headers
        )
        body = response.json()
        return body if body.get("ai_status") in ("done", "failed") else None

    return await wait_for(finished, timeout=timeout)
