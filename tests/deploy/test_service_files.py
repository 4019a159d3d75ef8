"""deploy/systemd: the unit and the settings example name only settings the engine reads."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from engine.config import Settings
from tests.support.processes import REPO_ROOT

SYSTEMD = REPO_ROOT / "deploy" / "systemd"
UNIT = SYSTEMD / "rugpt-engine.service"
ENV_EXAMPLE = SYSTEMD / "engine.env.example"
SETTINGS = {name.upper() for name in Settings.model_fields}
EXEC_START = "ExecStart=/opt/rugpt/venv/bin/rugpt serve"


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


def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    # The only change: an executable that exists here instead of /opt/rugpt/venv/bin/rugpt.
    unit = tmp_path / UNIT.name
    text = UNIT.read_text(encoding="utf-8")
    assert text.count(EXEC_START) == 1
    unit.write_text(text.replace(EXEC_START, f"ExecStart={sys.executable} -m engine serve"))

    result = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )

    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
