"""The web client's browser tests: Debian's chromium, Node.js and the Playwright runner.

The browser is always the system's `/usr/bin/chromium` (installed from the Debian packages
when missing, like nginx); Playwright never downloads one. `web/e2e/` holds the Playwright
side with its own package.json and lock file.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import REPO_ROOT

WEB_DIR = REPO_ROOT / "web"
DIST_DIR = WEB_DIR / "dist"
E2E_DIR = WEB_DIR / "e2e"
ARTIFACTS_DIR = REPO_ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
MIN_NODE = (20, 19)


def node_version() -> tuple[int, int] | None:
    node = shutil.which("node")
    if node is None:
        return None
    out = subprocess.run(
        [node, "--version"], capture_output=True, text=True, timeout=30, check=False
    )
    major, minor, *_ = out.stdout.strip().lstrip("v").split(".")
    return int(major), int(minor)


def _npm(args: list[str], cwd: Path, timeout: float = 900) -> None:
    env = {**os.environ, "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"}
    result = subprocess.run(
        ["npm", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"npm {' '.join(args)} in {cwd}:\n{result.stderr[-3000:]}"


def ensure_client_and_runner() -> None:
    """A built client and the Playwright runner, built or installed here when Node can.

    Skips only when there is nothing to test and no way to build it: no web/dist and no
    Node.js (or no client in this checkout at all).
    """
    node = node_version()
    built = DIST_DIR / "index.html"
    if not built.is_file():
        if node is None:
            pytest.skip("web/dist is not built and Node.js is not installed (see ./setup.sh)")
        if not (WEB_DIR / "package.json").is_file():
            pytest.skip("the web client (web/package.json) is not in this checkout")
    if node is None or node < MIN_NODE:
        pytest.fail(f"the browser tests need Node.js {MIN_NODE[0]}.{MIN_NODE[1]}+, found {node}")
    if _sources_newer_than(built):
        installed = WEB_DIR / "node_modules" / ".package-lock.json"
        lock = WEB_DIR / "package-lock.json"
        if not installed.is_file() or lock.stat().st_mtime > installed.stat().st_mtime:
            _npm(["ci", "--no-audit", "--no-fund"], WEB_DIR)
        _npm(["run", "build"], WEB_DIR)
    if not (E2E_DIR / "node_modules" / "@playwright" / "test").is_dir():
        _npm(["ci", "--no-audit", "--no-fund"], E2E_DIR)


def _sources_newer_than(built: Path) -> bool:
    """Whether the client must be (re)built: no build, or a source changed after it."""
    if not (WEB_DIR / "package.json").is_file():
        return False
    if not built.is_file():
        return True
    sources = [WEB_DIR / "index.html", WEB_DIR / "package-lock.json"]
    for folder in ("src", "public"):
        sources.extend(path for path in (WEB_DIR / folder).rglob("*") if path.is_file())
    newest = max((path.stat().st_mtime for path in sources if path.exists()), default=0.0)
    return newest > built.stat().st_mtime


def ensure_chromium() -> str:
    """Debian's chromium; installed with apt-get when missing (as root), never downloaded."""
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    apt_get = shutil.which("apt-get")
    if apt_get is None or os.geteuid() != 0:
        pytest.fail("chromium is not installed: run `sudo apt-get install -y chromium`")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in ([apt_get, "update"], [apt_get, "install", "-y", "chromium"]):
        subprocess.run(command, env=env, capture_output=True, timeout=900, check=False)
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail("could not install chromium with apt-get")
    return CHROMIUM


@dataclass
class SpecOutcome:
    """What Playwright reported for the tests of one spec file."""

    passed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # title and first error of each
    skipped: list[str] = field(default_factory=list)  # title and skip reason of each


@dataclass
class PlaywrightRun:
    returncode: int
    output: str
    specs: dict[str, SpecOutcome]

    def outcome(self, spec: str) -> SpecOutcome:
        return self.specs.get(spec, SpecOutcome())


async def run_playwright(env: Mapping[str, str], timeout: float = 300) -> PlaywrightRun:
    """`npx playwright test` over every spec in web/e2e/tests/, one browser run."""
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    report_path = ARTIFACTS_DIR / "e2e-report.json"
    report_path.unlink(missing_ok=True)
    process = await asyncio.create_subprocess_exec(
        "npx",
        "--no-install",
        "playwright",
        "test",
        cwd=E2E_DIR,
        env={
            **os.environ,
            "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1",
            "PLAYWRIGHT_JSON_OUTPUT_NAME": str(report_path),
            "E2E_ARTIFACTS_DIR": str(ARTIFACTS_DIR),
            "CHROMIUM_PATH": CHROMIUM,
            "CI": "1",
            **env,
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with asyncio.timeout(timeout):
            output, _ = await process.communicate()
    except TimeoutError:
        process.kill()
        output, _ = await process.communicate()
        output += f"\n[killed after {timeout:g} s]".encode()
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    return PlaywrightRun(
        returncode=process.returncode if process.returncode is not None else -1,
        output=output.decode(errors="replace"),
        specs=_outcomes(report),
    )


def _outcomes(report: dict[str, Any]) -> dict[str, SpecOutcome]:
    """Per spec file name without `.spec.ts`: its tests by how they ended."""
    outcomes: dict[str, SpecOutcome] = {}

    def walk(suite: dict[str, Any], name: str) -> None:
        outcome = outcomes.setdefault(name, SpecOutcome())
        for spec in suite.get("specs", []):
            for test in spec.get("tests", []):
                title = spec.get("title", "?")
                status = test.get("status")
                if status == "skipped":
                    notes = [a.get("description", "") for a in test.get("annotations", [])]
                    outcome.skipped.append(f"{title}: {'; '.join(filter(None, notes)) or '-'}")
                elif status == "expected":
                    outcome.passed.append(title)
                else:
                    errors = [
                        error.get("message", "")
                        for result in test.get("results", [])
                        for error in result.get("errors", [])
                    ]
                    outcome.failed.append(f"{title} ({status}): {errors[:1]}")
        for child in suite.get("suites", []):
            walk(child, name)

    for suite in report.get("suites", []):
        walk(suite, Path(suite.get("file", "?")).name.split(".")[0])
    return outcomes
