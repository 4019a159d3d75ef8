"""`rugpt` command line: serve, migrate, create-admin, check."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Sequence

from engine.config import Settings, SettingsError, get_settings
from engine.logging_setup import configure_logging


def _serve(settings: Settings) -> int:
    import uvicorn

    from engine.app import create_app

    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
        timeout_graceful_shutdown=10,
    )
    return 0


async def _migrate(settings: Settings) -> int:
    from engine.services.engine import EngineService

    engine = await EngineService.start(settings)
    await engine.close()
    print("migrations applied")
    return 0


async def _create_admin(settings: Settings, username: str, email: str, password: str) -> int:
    from engine.services.engine import EngineService

    engine = await EngineService.start(settings)
    try:
        created = await engine.organizations.bootstrap_system_admin(username, email, password)
    finally:
        await engine.close()
    print("system administrator created" if created else "a system administrator already exists")
    return 0


async def _check(settings: Settings) -> int:
    from engine.services.engine import EngineService

    print(f"config: ok (environment={settings.environment}, llm={settings.llm_provider})")
    try:
        engine = await EngineService.start(settings)
    except Exception as exc:
        print(f"database: FAILED ({type(exc).__name__}: {exc})")
        return 1
    failed = False
    try:
        db_ok, report = await engine.health.report()
        db_line = f"database: {'ok' if db_ok else 'FAILED'}"
        where = "embedded" if settings.uses_embedded_db else "external"
        print(f"{db_line} ({where}, {report['database']['latency_ms']} ms)")
        llm = report["llm"]
        if llm["reachable"] and llm["model_present"]:
            print(f"llm: ok ({llm['provider']} at {llm['base_url']}, model {llm['model']})")
        elif llm["reachable"]:
            print(f"llm: FAILED (model {llm['model']} not found at {llm['base_url']})")
        else:
            print(f"llm: FAILED ({llm['base_url']} unreachable: {llm['error']})")
        failed = not (db_ok and llm["reachable"] and llm["model_present"])
    finally:
        await engine.close()
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rugpt", description="RuGPT Engine")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the HTTP server")
    sub.add_parser("migrate", help="apply database migrations")
    admin = sub.add_parser("create-admin", help="create the system administrator")
    admin.add_argument("--username", default=None)
    admin.add_argument("--email", default=None)
    admin.add_argument("--password", default=None, help="prompted when omitted")
    sub.add_parser("check", help="check configuration, database and LLM")
    args = parser.parse_args(argv)

    try:
        settings = get_settings()
    except (SettingsError, ValueError) as exc:
        print(f"config: FAILED ({exc})", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.logs_dir)

    if args.command == "serve":
        return _serve(settings)
    if args.command == "migrate":
        return asyncio.run(_migrate(settings))
    if args.command == "create-admin":
        password = args.password
        if password is None:
            if settings.admin_password is not None:
                password = settings.admin_password.get_secret_value()
            else:
                password = getpass.getpass("password: ")
        return asyncio.run(
            _create_admin(
                settings,
                args.username or settings.admin_username,
                args.email or settings.admin_email,
                password,
            )
        )
    return asyncio.run(_check(settings))


if __name__ == "__main__":
    raise SystemExit(main())
