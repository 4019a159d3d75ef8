"""deploy/systemd: the units and the settings example name only settings the engine reads."""

from __future__ import annotations

import getpass
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import asyncpg
import bcrypt
import pytest

from engine.config import Settings
from tests.conftest import TEST_JWT_SECRET
from tests.support.processes import REPO_ROOT, SRC_DIR, engine_env

SYSTEMD = REPO_ROOT / "deploy" / "systemd"
UNIT = SYSTEMD / "rugpt-engine.service"
ENV_EXAMPLE = SYSTEMD / "engine.env.example"
SETTINGS = {name.upper() for name in Settings.model_fields}
EXEC_START = "ExecStart=/opt/rugpt/venv/bin/rugpt serve"
WORKER_UNIT = SYSTEMD / "rugpt-worker@.service"
WORKER_EXEC_START = "ExecStart=/opt/rugpt/venv/bin/rugpt worker"
# The sandbox of the engine's unit; the worker's must be the same, line for line.
HARDENING = (
    "User",
    "Group",
    "StateDirectoryMode",
    "LogsDirectoryMode",
    "WorkingDirectory",
    "Restart",
    "KillMode",
    "TimeoutStopSec",
    "LimitNOFILE",
    "NoNewPrivileges",
    "ProtectSystem",
    "ProtectHome",
    "PrivateTmp",
    "ProtectKernelTunables",
    "ProtectKernelModules",
    "ProtectKernelLogs",
    "ProtectControlGroups",
    "ProtectHostname",
    "RestrictSUIDSGID",
    "RestrictRealtime",
    "RestrictNamespaces",
    "LockPersonality",
    "RestrictAddressFamilies",
    "CapabilityBoundingSet",
    "UMask",
)


def _example_values() -> dict[str, str]:
    """Every KEY=value of the example, the commented-out alternatives included."""
    values: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"#?\s*([A-Z][A-Z0-9_]*)=(.*)", line.strip())
        if match:
            values.setdefault(match.group(1), match.group(2))
    return values


def test_env_example_names_only_real_settings() -> None:
    unknown = set(_example_values()) - SETTINGS
    assert not unknown, f"not settings of engine.config.Settings: {sorted(unknown)}"


def test_env_example_values_are_valid_settings() -> None:
    active = {
        line.split("=", 1)[0]: line.split("=", 1)[1]
        for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    }
    values = {name.lower(): value for name, value in active.items() if value}
    settings = Settings(_env_file=None, jwt_secret="x" * 40, **values)  # type: ignore[arg-type]

    assert settings.host == "127.0.0.1" and settings.port == 8100
    assert settings.forwarded_allow_ips == "127.0.0.1"


def test_unit_runs_the_rugpt_script_with_known_settings() -> None:
    text = UNIT.read_text(encoding="utf-8")
    assert EXEC_START in text.splitlines()
    scripts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["rugpt"] == "engine.cli:main"

    assigned = re.findall(r"^Environment=(.*)$", text, flags=re.MULTILINE)
    names = {pair.split("=", 1)[0] for line in assigned for pair in line.split()}
    assert names - SETTINGS == {"HOME", "XDG_RUNTIME_DIR"}
    assert "EnvironmentFile=/etc/rugpt/engine.env" in text


@pytest.mark.parametrize(
    ("source", "name", "exec_start", "command"),
    [
        (UNIT, UNIT.name, EXEC_START, "serve"),
        # a template is verified as one of its instances
        (WORKER_UNIT, "rugpt-worker@gpu1.service", WORKER_EXEC_START, "worker"),
    ],
    ids=["engine", "worker"],
)
def test_unit_passes_systemd_analyze_verify(
    tmp_path: Path, source: Path, name: str, exec_start: str, command: str
) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    # The only change: an executable that exists here instead of /opt/rugpt/venv/bin/rugpt.
    unit = tmp_path / name
    text = source.read_text(encoding="utf-8")
    assert text.count(exec_start) == 1
    unit.write_text(text.replace(exec_start, f"ExecStart={sys.executable} -m engine {command}"))

    result = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )

    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def _directives(unit: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in unit.read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"([A-Za-z]+)=(.*)", line)
        if match:
            found.setdefault(match.group(1), []).append(match.group(2))
    return found


def test_worker_unit_is_a_template_running_rugpt_worker() -> None:
    worker = _directives(WORKER_UNIT)
    assert worker["ExecStart"] == [WORKER_EXEC_START.split("=", 1)[1]]
    assert "%i" in worker["Description"][0]
    # the shared settings first, then the instance's own, which may be absent
    assert worker["EnvironmentFile"] == ["/etc/rugpt/engine.env", "-/etc/rugpt/worker-%i.env"]
    # each instance rotates its own log file
    assert "LOGS_DIR=/var/log/rugpt/worker-%i" in " ".join(worker["Environment"]).split()
    assert "rugpt/worker-%i" in worker["LogsDirectory"][0].split()


def test_worker_unit_has_the_engine_units_hardening() -> None:
    engine, worker = _directives(UNIT), _directives(WORKER_UNIT)
    for name in HARDENING:
        assert name in engine, f"rugpt-engine.service no longer sets {name}"
        assert worker.get(name) == engine[name], name
    assert worker["StateDirectory"] == engine["StateDirectory"]
    assert worker["WantedBy"] == engine["WantedBy"]

    assigned = {pair.split("=", 1)[0] for line in worker["Environment"] for pair in line.split()}
    assert assigned - SETTINGS == {"HOME", "XDG_RUNTIME_DIR"}
    engine_pairs = {pair for line in engine["Environment"] for pair in line.split()}
    worker_pairs = {pair for line in worker["Environment"] for pair in line.split()}
    # the same environment as the engine's service, except where its logs go
    assert engine_pairs - worker_pairs == {"LOGS_DIR=/var/log/rugpt"}
    assert worker_pairs - engine_pairs == {"LOGS_DIR=/var/log/rugpt/worker-%i"}


def test_rugpt_ctl_sets_what_the_unit_sets() -> None:
    script = (SYSTEMD / "rugpt-ctl").read_text(encoding="utf-8")
    assigned = re.findall(r"^Environment=(.*)$", UNIT.read_text(encoding="utf-8"), re.MULTILINE)
    for pair in (p for line in assigned for p in line.split()):
        name, value = pair.split("=", 1)
        local = value.replace("/var/lib/rugpt", '"$RUGPT_STATE_DIR').replace(
            "/var/log/rugpt", '"$RUGPT_LOGS_DIR'
        )
        if local.startswith('"'):
            local += '"'
        assert f"{name}={local}" in script, f"rugpt-ctl does not set {name} like the unit"


async def test_rugpt_ctl_runs_the_cli_with_the_settings_file(
    fresh_database_url: str, tmp_path: Path
) -> None:
    venv_bin = tmp_path / "venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "rugpt").write_text(
        f'#!/bin/sh\nPYTHONPATH="{SRC_DIR}" exec "{sys.executable}" -m engine "$@"\n'
    )
    (venv_bin / "rugpt").chmod(0o755)
    state = tmp_path / "state"
    state.mkdir()
    password = "pa$$ word with spaces"
    env_file = tmp_path / "engine.env"
    env_file.write_text(
        "# settings of the service\n"
        f"DATABASE_URL={fresh_database_url}\n"
        f"   JWT_SECRET={TEST_JWT_SECRET}\n"
        "ENVIRONMENT=test\n"
        "\n"
        f"ADMIN_PASSWORD={password}\n"
        "BCRYPT_ROUNDS=4\n"
        "LLM_BASE_URL=http://127.0.0.1:9\n"
        "LLM_HEALTH_TIMEOUT_SECONDS=0.5\n"
    )
    env = engine_env(
        rugpt_user=getpass.getuser(),
        rugpt_venv=tmp_path / "venv",
        rugpt_env_file=env_file,
        rugpt_state_dir=state,
        rugpt_logs_dir=tmp_path / "logs",
    )

    def ctl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(SYSTEMD / "rugpt-ctl"), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    created = ctl("create-admin", "--username", "root")
    check = ctl("check")

    assert created.returncode == 0, created.stdout + created.stderr
    assert check.returncode == 1, check.stdout + check.stderr  # no LLM server here
    config, database, llm = check.stdout.splitlines()
    assert config.startswith("config: ok (environment=test, ")  # the file wins over the unit
    assert f"logs={tmp_path / 'logs'}" in config
    assert database.startswith("database: ok (external ") and "schema up to date" in database
    assert llm.startswith("llm: FAILED (ollama at http://127.0.0.1:9 unreachable")
    conn = await asyncpg.connect(fresh_database_url)
    try:
        stored = await conn.fetchval("SELECT password_hash FROM users WHERE username = 'root'")
    finally:
        await conn.close()
    assert bcrypt.checkpw(password.encode(), stored.encode()), "read literally, no expansion"
