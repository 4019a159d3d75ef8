"""Create or remove the demo organization (`./test-init.sh`, `./test-del.sh`); idempotent."""

from __future__ import annotations

import asyncio
import os
import sys

from engine.config import get_settings
from engine.errors import Conflict
from engine.logging_setup import configure_logging
from engine.models.user import AccessRole
from engine.services.engine import EngineService
from engine.services.identity.user_service import NewUser

DEMO_SLUG = "demo"
DEMO_ADMIN = "demo_admin"
DEMO_USERS = (("ivanov", "Иван Иванов"), ("petrova", "Мария Петрова"), ("sidorov", "Пётр Сидоров"))


async def init() -> None:
    admin_password = os.environ.get("DEMO_ADMIN_PASSWORD", "demo-admin-pass")
    user_password = os.environ.get("DEMO_USER_PASSWORD", "demo-user-pass")
    engine = await EngineService.start(get_settings())
    try:
        root = await engine.storages.users.get_system_admin()
        if root is None:
            raise SystemExit(
                "no system administrator: set ADMIN_PASSWORD or run `rugpt create-admin`"
            )
        org = await engine.storages.organizations.get_by_slug(DEMO_SLUG)
        if org is None:
            org, _ = await engine.organizations.create(
                root,
                slug=DEMO_SLUG,
                name="Демо-организация",
                admin=NewUser(DEMO_ADMIN, admin_password, "admin@demo.local", "Администратор"),
            )
            print(f"created organization '{DEMO_SLUG}'")
        admin = await engine.storages.users.get_by_username(org.id, DEMO_ADMIN)
        assert admin is not None
        for username, full_name in DEMO_USERS:
            try:
                await engine.users.create(
                    admin,
                    NewUser(
                        username,
                        user_password,
                        f"{username}@demo.local",
                        full_name,
                        AccessRole.USER,
                    ),
                )
                print(f"created user {username}")
            except Conflict:
                pass
        print(
            f"demo ready: log in as {DEMO_ADMIN} / {admin_password} (organization '{DEMO_SLUG}'),"
            f" users {', '.join(u for u, _ in DEMO_USERS)} / {user_password}"
        )
    finally:
        await engine.close()


async def delete() -> None:
    engine = await EngineService.start(get_settings())
    try:
        org = await engine.storages.organizations.get_by_slug(DEMO_SLUG)
        root = await engine.storages.users.get_system_admin()
        if org is None or root is None:
            print("no demo organization")
            return
        await engine.organizations.delete(root, org.id)
        print(f"demo organization '{DEMO_SLUG}' removed")
    finally:
        await engine.close()


def main() -> None:
    configure_logging("WARNING")
    command = sys.argv[1] if len(sys.argv) > 1 else "init"
    asyncio.run(init() if command == "init" else delete())


if __name__ == "__main__":
    main()
