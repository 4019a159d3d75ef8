"""`rugpt` command line: serve, worker, migrate, create-admin, check, audit-purge.

Exit codes: 0 success, 1 a dependency or the operation failed, 2 the configuration is invalid.
Every command reads the same settings as the server (environment and `.env`).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
from pydantic import ValidationError

from engine import __version__
from engine.config import Settings, get_settings
from engine.logging_setup import configure_logging
from engine.models.ai_queue import BackendState

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2

DB_CONNECT_TIMEOUT_SECONDS = 10.0
# Above nginx's upstream keepalive_timeout (60 s in deploy/nginx/rugpt.conf), so nginx never
# sends a request on a connection the engine has just closed.
KEEP_ALIVE_SECONDS = 75


def _say(line: str) -> None:
    print(line, flush=True)


def _one_line(exc: BaseException) -> str:
    """A settings or connection error as one line, without pydantic's help links."""
    if isinstance(exc, ValidationError):
        parts = []
        for error in exc.errors():
            where = ".".join(str(p).upper() for p in error["loc"])
            message = str(error["msg"]).removeprefix("Value error, ")
            parts.append(f"{where}: {message}" if where else message)
        return "; ".join(parts)
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def describe_dsn(dsn: str) -> str:
    """user@host:port/database (or the socket folder), never the password."""
    parts = urlsplit(dsn)
    database = parts.path.lstrip("/") or "postgres"
    host = parts.hostname or parse_qs(parts.query).get("host", ["local socket"])[0]
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # asyncpg will say what is wrong with it; this is only a label
        port = ":?"
    user = f"{parts.username}@" if parts.username else ""
    return f"{user}{host}{port}/{database}"


@asynccontextmanager
async def _database_dsn(settings: Settings) -> AsyncIterator[str]:
    """The DSN to use; the embedded server is started for the duration when it is used.

    pgserver counts its users, so a server the running engine holds is not stopped here.
    """
    if not settings.uses_embedded_db:
        yield settings.database_url
        return
    from engine.storage.postgres.embedded import EmbeddedPostgres

    embedded = EmbeddedPostgres(settings.data_dir)
    dsn = await embedded.start()
    try:
        yield dsn
    finally:
        await embedded.stop()


def _serve(settings: Settings) -> int:
    import uvicorn

    from engine.app import create_app

    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        timeout_graceful_shutdown=10,
        server_header=False,
    )
    return EXIT_OK


async def _migrate(settings: Settings) -> int:
    from engine.storage.postgres.migrations import apply_migrations, discover

    try:
        async with _database_dsn(settings) as dsn:
            conn = await asyncpg.connect(dsn, timeout=DB_CONNECT_TIMEOUT_SECONDS)
            try:
                applied = await apply_migrations(conn, app_role=settings.database_app_role)
            finally:
                await conn.close()
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        _say(f"migrate: FAILED ({_one_line(exc)})")
        return EXIT_FAILED
    if not applied:
        _say("migrate: ok (schema up to date)")
        return EXIT_OK
    names = {m.version: f"{m.version:03d}_{m.name}" for m in discover()}
    _say(f"migrate: ok (applied {', '.join(names[v] for v in applied)})")
    return EXIT_OK


async def _audit_purge(settings: Settings, days: int) -> int:
    """Apply the audit retention. Run as the owner of the tables (the role that runs
    migrations): the engine's runtime role may not delete audit rows."""
    from engine.storage.audit import purge_older_than

    if days == 0:
        _say("audit-purge: ok (retention 0: the audit log is kept forever)")
        return EXIT_OK
    try:
        async with _database_dsn(settings) as dsn:
            conn = await asyncpg.connect(dsn, timeout=DB_CONNECT_TIMEOUT_SECONDS)
            try:
                deleted = await purge_older_than(conn, days)
            finally:
                await conn.close()
    except asyncpg.InsufficientPrivilegeError as exc:
        _say(f"audit-purge: FAILED (run it as the tables' owner: {_one_line(exc)})")
        return EXIT_FAILED
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        _say(f"audit-purge: FAILED ({_one_line(exc)})")
        return EXIT_FAILED
    _say(f"audit-purge: ok ({deleted} rows older than {days} days deleted)")
    return EXIT_OK


def _read_password(given: str | None, settings: Settings) -> str:
    """--password, else ADMIN_PASSWORD, else a prompt (twice) or the first line of stdin."""
    if given is not None:
        return given
    if settings.admin_password is not None:
        return settings.admin_password.get_secret_value()
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    password = getpass.getpass("password: ")
    if getpass.getpass("repeat password: ") != password:
        raise SystemExit("create-admin: FAILED (the passwords differ)")
    return password


async def _create_admin(settings: Settings, username: str, email: str, password: str) -> int:
    from engine.errors import EngineError
    from engine.services.engine import EngineService

    # Without this the start-up bootstrap would create the admin from ADMIN_PASSWORD first.
    try:
        engine = await EngineService.start(settings.model_copy(update={"admin_password": None}))
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        _say(f"create-admin: FAILED (database: {_one_line(exc)})")
        return EXIT_FAILED
    try:
        created = await engine.organizations.bootstrap_system_admin(username, email, password)
    except EngineError as exc:
        _say(f"create-admin: FAILED ({exc.detail})")
        return EXIT_FAILED
    finally:
        await engine.close()
    if created:
        _say(f"create-admin: ok (system administrator {username!r} created)")
    else:
        _say("create-admin: ok (a system administrator already exists; nothing changed)")
    return EXIT_OK


def _logs_dir_problem(logs_dir: Path) -> str | None:
    existing = logs_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"LOGS_DIR {logs_dir} is not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"LOGS_DIR {logs_dir} is not writable"
    return None


def _check_config(settings: Settings) -> bool:
    problem = _logs_dir_problem(settings.logs_dir) if settings.logs_dir else None
    if problem:
        _say(f"config: FAILED ({problem})")
        return False
    logs = str(settings.logs_dir) if settings.logs_dir else "stderr only"
    _say(
        f"config: ok (environment={settings.environment}, listen={settings.host}:{settings.port},"
        f" llm={settings.llm_provider}, logs={logs})"
    )
    return True


@dataclass
class FleetReport:
    """The model servers' shared state as the database holds it (`ai_jobs`, `llm_backends`)."""

    backends: dict[str, BackendState]
    queue_length: int


async def _fleet_report(dsn: str) -> FleetReport:
    from engine.storage.ai_queue import AIQueueStorage
    from engine.storage.postgres.database import Database, create_pool

    pool = await create_pool(dsn, min_size=1, max_size=1, command_timeout=10)
    try:
        queue = AIQueueStorage(Database(pool))
        states = {state.name: state for state in await queue.backend_states()}
        return FleetReport(states, await queue.queue_length())
    finally:
        await pool.close()


async def _check_database(settings: Settings) -> tuple[bool, FleetReport | None]:
    """The database line; with the schema up to date, the AI queue's state too."""
    from engine.storage.postgres.migrations import pending_migrations

    where = (
        f"embedded in {(settings.data_dir / 'pg').resolve()}"
        if settings.uses_embedded_db
        else f"external {describe_dsn(settings.database_url)}"
    )
    try:
        async with _database_dsn(settings) as dsn:
            started = time.perf_counter()
            conn = await asyncpg.connect(dsn, timeout=DB_CONNECT_TIMEOUT_SECONDS)
            try:
                await conn.fetchval("SELECT 1")
                latency_ms = (time.perf_counter() - started) * 1000
                version = conn.get_settings().server_version.split()[0]
                pending = await pending_migrations(conn)
            finally:
                await conn.close()
            fleet = None if pending else await _fleet_report(dsn)
    except Exception as exc:  # any failure to reach the database is the answer we report
        _say(f"database: FAILED ({where}: {_one_line(exc)})")
        return False, None
    schema = (
        f"schema up to date, AI queue: {fleet.queue_length} waiting"
        if fleet is not None
        else f"{len(pending)} migration{'s' if len(pending) > 1 else ''} pending,"
        " applied at start or by `rugpt migrate`"
    )
    _say(f"database: ok ({where}, PostgreSQL {version}, {latency_ms:.0f} ms, {schema})")
    return True, fleet


def _check_local_llm(settings: Settings) -> bool:
    """The local model is started by the engine: check what it needs, and whether it runs."""
    from engine.llm.local_server import llama_cpp_installed, read_state_file, resolve_model

    try:
        model = resolve_model(settings)
    except ValueError as exc:
        _say(f"llm: FAILED (local: {exc})")
        return False
    if not llama_cpp_installed():
        _say("llm: FAILED (local: llama_cpp is not installed; run ./setup.sh)")
        return False
    running = read_state_file(settings)
    state = (
        f"running, pid {running['pid']} on 127.0.0.1:{running['port']}"
        if running
        else "not running, started by `rugpt serve`"
    )
    tools = f"; tools unavailable: {model.tools_unavailable}" if model.tools_unavailable else ""
    _say(f"llm: ok (local llama.cpp server {state}; model {model.path}{tools})")
    return True


async def _check_llm(settings: Settings, fleet: FleetReport | None = None) -> bool:
    """One line per model server of the fleet (`llm:` alone when there is one), with its
    shared state (healthy or ejected, slots in use) once an engine has registered it."""
    from engine.llm.probe import LLMProbe

    if settings.llm_provider == "local" and not settings.llm_backends:
        return _check_local_llm(settings)
    timeout = httpx.Timeout(settings.llm_health_timeout_seconds + 1)
    several = len(settings.backends) > 1
    all_ok = True
    async with httpx.AsyncClient(timeout=timeout) as client:
        for backend in settings.backends:
            status = await LLMProbe(settings, client, backend=backend).status(fresh=True)
            label = f"llm {backend.name}" if several else "llm"
            target = f"{status.provider} at {status.base_url}"
            if several:
                target += f", capacity {backend.capacity}"
            shared = fleet.backends.get(backend.name) if fleet is not None else None
            state = (
                f"; {shared.state}, {shared.slots_in_use} of {backend.capacity} slots in use"
                if shared is not None
                else ""
            )
            if status.reachable and status.model_present:
                _say(f"{label}: ok ({target}, model {status.model}{state})")
                continue
            all_ok = False
            if status.reachable:
                _say(
                    f"{label}: FAILED ({target} is reachable but has no model "
                    f"{status.model}{state})"
                )
            else:
                _say(f"{label}: FAILED ({target} unreachable: {status.error}{state})")
    return all_ok


async def _work(settings: Settings) -> int:
    """`rugpt worker`: AI answers, calendar firings and notifications; no HTTP."""
    import signal

    from engine.services.engine import EngineService

    settings = settings.model_copy(update={"ai_worker_enabled": True})
    engine = await EngineService.start(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    _say(f"worker {engine.fleet.owner}: running (model servers: {', '.join(engine.fleet.names)})")
    try:
        await stop.wait()
    finally:
        await engine.close()
    return EXIT_OK


async def _check(settings: Settings) -> int:
    """One line per dependency; every dependency is checked even when an earlier one fails."""
    if not _check_config(settings):
        _say("database: SKIPPED (configuration invalid)")
        _say("llm: SKIPPED (configuration invalid)")
        return EXIT_CONFIG
    database_ok, fleet = await _check_database(settings)
    llm_ok = await _check_llm(settings, fleet)
    return EXIT_OK if database_ok and llm_ok else EXIT_FAILED


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rugpt",
        description="RuGPT Engine: corporate AI assistant server.",
        epilog="exit codes: 0 ok, 1 failed, 2 invalid configuration",
    )
    parser.add_argument("--version", action="version", version=f"rugpt {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the HTTP server on HOST:PORT")
    sub.add_parser(
        "worker",
        help="run AI answers, calendar firings and notifications without HTTP (next to the GPUs)",
    )
    sub.add_parser("migrate", help="apply pending database migrations")
    admin = sub.add_parser(
        "create-admin",
        help="create the system administrator when there is none",
        description="Password: --password, else ADMIN_PASSWORD, else prompted "
        "(or read from the first line of stdin when it is not a terminal).",
    )
    admin.add_argument("--username", default=None, help="default: ADMIN_USERNAME")
    admin.add_argument("--email", default=None, help="default: ADMIN_EMAIL")
    admin.add_argument("--password", default=None, help="visible to other users in `ps`")
    sub.add_parser("check", help="check configuration, database and LLM server, one line each")
    purge = sub.add_parser(
        "audit-purge",
        help="delete audit log rows older than AUDIT_RETENTION_DAYS (run as the tables' owner)",
    )
    purge.add_argument("--days", type=int, default=None, help="default: AUDIT_RETENTION_DAYS")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = get_settings()
    except ValueError as exc:  # pydantic's ValidationError and our SettingsError
        _say(f"config: FAILED ({_one_line(exc)})")
        if args.command == "check":
            _say("database: SKIPPED (configuration invalid)")
            _say("llm: SKIPPED (configuration invalid)")
        return EXIT_CONFIG

    if args.command in ("serve", "worker"):
        # Only the long-running processes write LOGS_DIR files: one writer per rotated file.
        try:
            configure_logging(
                settings.log_level,
                settings.logs_dir,
                log_format=settings.log_format,
                max_bytes=settings.log_file_max_mb * 1024 * 1024,
                backup_count=settings.log_file_backups,
            )
        except OSError as exc:
            _say(f"config: FAILED (LOGS_DIR {settings.logs_dir}: {_one_line(exc)})")
            return EXIT_CONFIG
        if args.command == "worker":
            return asyncio.run(_work(settings))
        return _serve(settings)
    # Short commands talk to the terminal; their own lines are the report, logs only warn.
    level = "WARNING" if args.command == "check" else settings.log_level
    configure_logging(level, None, log_format=settings.log_format)
    if args.command == "migrate":
        return asyncio.run(_migrate(settings))
    if args.command == "audit-purge":
        days = settings.audit_retention_days if args.days is None else args.days
        if days < 0:
            _say("audit-purge: FAILED (--days must be 0 or more)")
            return EXIT_CONFIG
        return asyncio.run(_audit_purge(settings, days))
    if args.command == "create-admin":
        password = _read_password(args.password, settings)
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
