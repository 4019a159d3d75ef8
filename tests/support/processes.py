"""Real processes for deployment tests: the engine as `python -m engine`, ports, waiting.

The engine runs from this checkout's `src/` (PYTHONPATH), with an environment built from
scratch so settings exported in the developer's shell or a `.env` never leak in.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SRC_DIR = REPO_ROOT / "src"

_PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "XDG_RUNTIME_DIR")
_LISTENING = re.compile(r"Uvicorn running on http://[^\s:]+:(\d+)")


def free_port(host: str = "127.0.0.1") -> int:
    """A port free right now (for servers that cannot report the port they bound)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Poll `condition` until it holds; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.02)


def port_accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def engine_env(**settings: object) -> dict[str, str]:
    """A clean environment: a few system variables, this checkout on PYTHONPATH, `settings`."""
    env = {name: os.environ[name] for name in _PASSED_THROUGH if name in os.environ}
    env["PYTHONPATH"] = str(SRC_DIR)
    env["PYTHONUNBUFFERED"] = "1"
    env.update({name.upper(): str(value) for name, value in settings.items()})
    return env


def run_cli(
    args: Sequence[str],
    env: Mapping[str, str],
    cwd: Path,
    *,
    stdin: str | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """`rugpt <args>` from this checkout, as a separate process."""
    return subprocess.run(
        [sys.executable, "-m", "engine", *args],
        env=dict(env),
        cwd=cwd,
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class EngineProcess:
    """`rugpt serve` on 127.0.0.1 with PORT=0; the bound port is read from its start-up line."""

    def __init__(self, env: Mapping[str, str], cwd: Path) -> None:
        self.env = {**env, "HOST": "127.0.0.1", "PORT": "0"}
        self.env.setdefault("LOG_LEVEL", "INFO")
        self.cwd = cwd
        self.port = 0
        self.returncode: int | None = None
        self.lines: list[str] = []
        self._listening = threading.Event()
        self._process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def start(self, timeout: float = 60) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "engine", "serve"],
            env=self.env,
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._listening.wait(timeout) or not self.port:
            self.stop()
            raise AssertionError(f"the engine did not start within {timeout} s:\n{self.output}")

    def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            self.lines.append(line.rstrip("\n"))
            match = _LISTENING.search(line)
            if match:
                self.port = int(match.group(1))
                self._listening.set()
        self._listening.set()  # the process ended: wake a waiting start()

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM (graceful: the lifespan closes the pool), SIGKILL if it hangs."""
        process, self._process = self._process, None
        if process is None:
            return self.returncode if self.returncode is not None else 0
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)
        if self._reader is not None:
            self._reader.join(timeout)
        self.returncode = process.returncode
        return process.returncode


@contextmanager
def running_engine(env: Mapping[str, str], cwd: Path) -> Iterator[EngineProcess]:
    engine = EngineProcess(env, cwd)
    engine.start()
    try:
        yield engine
    finally:
        engine.stop()
