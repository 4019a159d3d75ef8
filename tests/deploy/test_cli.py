"""`rugpt` as the operator runs it: a separate process, settings from the environment."""

from __future__ import annotations

import json
import secrets
import signal
from pathlib import Path

import asyncpg
import bcrypt
import httpx
import pytest

from engine.storage.postgres.migrations import discover
from tests.deploy.conftest import engine_settings
from tests.support.model_server import ModelListServer
from tests.support.processes import engine_env, run_cli, running_engine, wait_until

MODEL = "qwen2.5:7b"


def _env(database_url: str, workdir: Path, **overrides: object) -> dict[str, str]:
    settings = engine_settings(database_url, workdir, **overrides)
    return engine_env(**{name: value for name, value in settings.items() if value is not None})


def _report(stdout: str) -> dict[str, str]:
    """`rugpt check` output as {dependency: rest of its line}; exactly one line each."""
    lines = stdout.splitlines()
    names = [line.split(":", 1)[0] for line in lines]
    assert names == ["config", "database", "llm"], stdout
    return {name: line.split(": ", 1)[1] for name, line in zip(names, lines, strict=True)}


def test_check_reports_every_dependency_ok(fresh_database_url: str, tmp_path: Path) -> None:
    with ModelListServer([MODEL, "other:1b"]) as llm:
        result = run_cli(
            ["check"], _env(fresh_database_url, tmp_path, llm_base_url=llm.base_url), tmp_path
        )

    assert result.returncode == 0, result.stdout + result.stderr
    report = _report(result.stdout)
    assert report["config"].startswith("ok (environment=test, ")
    assert report["database"].startswith("ok (external postgres@")
    assert "PostgreSQL 1" in report["database"]
    count = len(discover())
    pending = f"{count} migration{'s' if count > 1 else ''} pending"
    assert pending in report["database"], "a fresh database is not migrated yet"
    assert report["llm"] == f"ok (ollama at {llm.base_url}, model {MODEL})"
    assert llm.requests == [("/api/tags", None)]


def test_check_speaks_the_openai_protocol_with_the_key(
    fresh_database_url: str, tmp_path: Path
) -> None:
    with ModelListServer(["Qwen/Qwen2.5-7B-Instruct"]) as llm:
        env = _env(
            fresh_database_url,
            tmp_path,
            llm_provider="openai",
            llm_base_url=f"{llm.base_url}/v1",
            llm_model="Qwen/Qwen2.5-7B-Instruct",
            llm_api_key="vllm-key",
        )
        result = run_cli(["check"], env, tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert _report(result.stdout)["llm"].startswith("ok (openai at ")
    assert llm.requests == [("/v1/models", "Bearer vllm-key")]


def test_check_fails_when_the_llm_server_is_unreachable(
    fresh_database_url: str, tmp_path: Path
) -> None:
    result = run_cli(["check"], _env(fresh_database_url, tmp_path), tmp_path)

    assert result.returncode == 1
    report = _report(result.stdout)
    assert report["database"].startswith("ok ")
    assert report["llm"].startswith("FAILED (ollama at http://127.0.0.1:9 unreachable: ")


def test_check_fails_when_the_model_is_missing(fresh_database_url: str, tmp_path: Path) -> None:
    with ModelListServer(["llama3:8b"]) as llm:
        env = _env(fresh_database_url, tmp_path, llm_base_url=llm.base_url)
        result = run_cli(["check"], env, tmp_path)

    assert result.returncode == 1
    assert _report(result.stdout)["llm"] == (
        f"FAILED (ollama at {llm.base_url} is reachable but has no model {MODEL})"
    )


def test_check_fails_when_the_database_is_unreachable_and_still_checks_the_llm(
    tmp_path: Path,
) -> None:
    dsn = "postgresql://rugpt:s3cret-pw@127.0.0.1:9/rugpt"
    with ModelListServer([MODEL]) as llm:
        result = run_cli(["check"], _env(dsn, tmp_path, llm_base_url=llm.base_url), tmp_path)

    assert result.returncode == 1
    report = _report(result.stdout)
    assert report["database"].startswith("FAILED (external rugpt@127.0.0.1:9/rugpt: ")
    assert "s3cret-pw" not in result.stdout + result.stderr
    assert report["llm"].startswith("ok ")


def test_check_reports_a_malformed_database_url_as_a_database_failure(tmp_path: Path) -> None:
    result = run_cli(["check"], _env("postgresql://u:pw@host:notaport/db", tmp_path), tmp_path)

    assert result.returncode == 1
    assert _report(result.stdout)["database"].startswith("FAILED (external u@host:?/db: ")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"environment": "production", "jwt_secret": None}, "JWT_SECRET is required"),
        ({"jwt_secret": "short"}, "at least 32 bytes"),
        ({"db_pool_min": 9, "db_pool_max": 3}, "DB_POOL_MIN must not exceed DB_POOL_MAX"),
        ({"llm_provider": "bard"}, "LLM_PROVIDER: "),
    ],
)
def test_check_reports_invalid_configuration_with_exit_code_2(
    tmp_path: Path, overrides: dict[str, object], reason: str
) -> None:
    env = _env("postgresql://nobody@127.0.0.1:9/none", tmp_path, **overrides)
    result = run_cli(["check"], env, tmp_path)

    assert result.returncode == 2
    report = _report(result.stdout)
    assert report["config"].startswith("FAILED (") and reason in report["config"]
    assert report["database"] == report["llm"] == "SKIPPED (configuration invalid)"


def test_check_refuses_a_logs_dir_that_is_a_file(fresh_database_url: str, tmp_path: Path) -> None:
    not_a_folder = tmp_path / "engine.log"
    not_a_folder.write_text("")
    result = run_cli(["check"], _env(fresh_database_url, tmp_path, logs_dir=not_a_folder), tmp_path)

    assert result.returncode == 2
    assert _report(result.stdout)["config"] == f"FAILED (LOGS_DIR {not_a_folder} is not a folder)"


def test_serve_refuses_to_start_when_the_logs_dir_cannot_be_made(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    env = _env("postgresql://x@127.0.0.1:9/x", tmp_path, logs_dir=blocker / "logs")

    result = run_cli(["serve"], env, tmp_path, timeout=60)

    assert result.returncode == 2
    assert result.stdout.startswith(f"config: FAILED (LOGS_DIR {blocker / 'logs'}: ")
    assert "Traceback" not in result.stderr


def test_migrate_applies_once_then_reports_up_to_date(
    fresh_database_url: str, tmp_path: Path
) -> None:
    env = _env(fresh_database_url, tmp_path)

    first = run_cli(["migrate"], env, tmp_path)
    second = run_cli(["migrate"], env, tmp_path)
    check = run_cli(["check"], env, tmp_path)

    assert first.returncode == 0, first.stdout + first.stderr
    every = ", ".join(f"{m.version:03d}_{m.name}" for m in discover())
    assert first.stdout.strip() == f"migrate: ok (applied {every})"
    assert second.stdout.strip() == "migrate: ok (schema up to date)"
    assert "schema up to date" in _report(check.stdout)["database"]


def test_migrate_fails_cleanly_without_a_database(tmp_path: Path) -> None:
    result = run_cli(["migrate"], _env("postgresql://x@127.0.0.1:9/x", tmp_path), tmp_path)

    assert result.returncode == 1
    assert result.stdout.startswith("migrate: FAILED (")
    assert "Traceback" not in result.stderr


async def _system_admins(database_url: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetch(
            "SELECT username, email, password_hash FROM users WHERE role = 'system_admin'"
        )
    finally:
        await conn.close()


async def test_create_admin_uses_the_given_password_once(
    fresh_database_url: str, tmp_path: Path
) -> None:
    # ADMIN_PASSWORD is set too: the explicit --password must win, not the start-up bootstrap.
    env = _env(fresh_database_url, tmp_path, admin_password="from-the-environment")
    args = ["create-admin", "--username", "root", "--email", "root@example.com"]

    first = run_cli([*args, "--password", "from-the-command-1"], env, tmp_path)
    second = run_cli([*args, "--password", "another-password-2"], env, tmp_path)

    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout.strip() == "create-admin: ok (system administrator 'root' created)"
    assert second.returncode == 0
    assert "already exists" in second.stdout
    (admin,) = await _system_admins(fresh_database_url)
    assert (admin["username"], admin["email"]) == ("root", "root@example.com")
    assert bcrypt.checkpw(b"from-the-command-1", admin["password_hash"].encode())


async def test_create_admin_reads_the_password_from_stdin(
    fresh_database_url: str, tmp_path: Path
) -> None:
    env = _env(fresh_database_url, tmp_path, admin_password=None)

    weak = run_cli(["create-admin"], env, tmp_path, stdin="short\n")
    good = run_cli(["create-admin"], env, tmp_path, stdin="piped-password-1\n")

    assert weak.returncode == 1
    assert weak.stdout.strip() == "create-admin: FAILED (password must be at least 8 characters)"
    assert good.returncode == 0, good.stdout + good.stderr
    (admin,) = await _system_admins(fresh_database_url)
    assert admin["username"] == "admin"
    assert bcrypt.checkpw(b"piped-password-1", admin["password_hash"].encode())


def test_serve_writes_json_lines_with_request_ids_and_stops_cleanly(
    fresh_database_url: str, tmp_path: Path
) -> None:
    logs_dir = tmp_path / "logs"
    env = _env(fresh_database_url, tmp_path, logs_dir=logs_dir, log_format="json")
    trace = f"cli-{secrets.token_hex(4)}"

    with running_engine(env, tmp_path) as engine:
        response = httpx.get(f"{engine.base_url}/api/v1/health", headers={"X-Request-Id": trace})
        assert response.status_code == 200
        log_file = logs_dir / "engine.log"
        wait_until(
            lambda: log_file.exists() and trace in log_file.read_text(),
            timeout=10,
            what="the access line in engine.log",
        )
        entries = [json.loads(line) for line in log_file.read_text().splitlines()]
    # uvicorn shuts down gracefully on SIGTERM, then ends by that signal (systemd: clean).
    assert engine.returncode in {0, -signal.SIGTERM}, engine.output
    assert "Application shutdown complete." in engine.output

    (access,) = [e for e in entries if e["request_id"] == trace]
    assert access["logger"] == "uvicorn.access"
    assert (access["method"], access["path"], access["status"]) == ("GET", "/api/v1/health", 200)
    assert any("applied migration 001_foundation" in e["message"] for e in entries)


async def test_audit_purge_deletes_only_rows_past_the_retention(
    fresh_database_url: str, tmp_path: Path
) -> None:
    env = _env(fresh_database_url, tmp_path, audit_retention_days=30)
    assert run_cli(["migrate"], env, tmp_path).returncode == 0
    conn = await asyncpg.connect(fresh_database_url)
    try:
        org_id = await conn.fetchval(
            "INSERT INTO organizations (slug, name) VALUES ('purge', 'Purge') RETURNING id"
        )
        for days in (400, 31, 29, 0):
            await conn.execute(
                "INSERT INTO audit_log (org_id, at, action, details) "
                "VALUES ($1, now() - make_interval(days => $2), 'test.row', $3::jsonb)",
                org_id,
                days,
                json.dumps({"days": days}),
            )

        purged = run_cli(["audit-purge"], env, tmp_path)
        kept_forever = run_cli(["audit-purge", "--days", "0"], env, tmp_path)

        left = await conn.fetch("SELECT details FROM audit_log WHERE action = 'test.row'")
    finally:
        await conn.close()
    assert purged.returncode == 0, purged.stdout + purged.stderr
    assert purged.stdout.strip() == "audit-purge: ok (2 rows older than 30 days deleted)"
    assert kept_forever.stdout.strip().startswith("audit-purge: ok (retention 0")
    assert sorted(json.loads(r["details"])["days"] for r in left) == [0, 29]


def test_check_lists_every_model_server_with_its_shared_state(
    fresh_database_url: str, tmp_path: Path
) -> None:
    with ModelListServer([MODEL]) as gpu1, ModelListServer(["other:1b"]) as gpu2:
        backends = [
            {
                "name": "gpu1",
                "provider": "ollama",
                "base_url": gpu1.base_url,
                "model": MODEL,
                "capacity": 2,
            },
            {
                "name": "gpu2",
                "provider": "ollama",
                "base_url": gpu2.base_url,
                "model": MODEL,
                "capacity": 4,
            },
        ]
        env = _env(fresh_database_url, tmp_path, llm_backends=json.dumps(backends))
        with running_engine(env, tmp_path):  # registers the servers in the database
            pass
        result = run_cli(["check"], env, tmp_path)

    lines = dict(line.split(": ", 1) for line in result.stdout.splitlines())
    assert list(lines) == ["config", "database", "llm gpu1", "llm gpu2"], result.stdout
    assert result.returncode == 1  # gpu2 lacks the model
    assert "schema up to date, AI queue: 0 waiting" in lines["database"]
    assert lines["llm gpu1"] == (
        f"ok (ollama at {gpu1.base_url}, capacity 2, model {MODEL}; healthy, 0 of 2 slots in use)"
    )
    assert lines["llm gpu2"].startswith(f"FAILED (ollama at {gpu2.base_url}, capacity 4 is ")
    assert lines["llm gpu2"].endswith(", 0 of 4 slots in use)")
