"""The engine as a real OS process (uvicorn, or `rugpt worker`), so a test can SIGKILL it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import sys
from pathlib import Path
from typing import IO

import httpx

from engine.config import Settings
from tests.fakes.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]


def engine_env(database_url: str, llm_base_url: str, **extra: str) -> dict[str, str]:
    """Environment for a test engine process: fast bcrypt, the suite's secrets, no scheduler."""
    from tests.conftest import SYSTEM_ADMIN_PASSWORD, TEST_JWT_SECRET

    return {
        "ENVIRONMENT": "test",
        "DATABASE_URL": database_url,
        "JWT_SECRET": TEST_JWT_SECRET,
        "BCRYPT_ROUNDS": "4",
        "ADMIN_PASSWORD": SYSTEM_ADMIN_PASSWORD,
        "LLM_BASE_URL": llm_base_url,
        "SCHEDULER_ENABLED": "false",
        **extra,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _process_env(env: dict[str, str]) -> dict[str, str]:
    """The test's environment without any engine setting, then `env`: nothing leaks in."""
    settings_names = {name.upper() for name in Settings.model_fields}
    return {
        **{k: v for k, v in os.environ.items() if k.upper() not in settings_names},
        "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}",
        "LOG_LEVEL": "INFO",
        **env,
    }


class EngineProcess:
    """`python -m uvicorn --factory engine.app:create_app`, configured by environment."""

    def __init__(self, env: dict[str, str], workdir: Path, name: str = "engine") -> None:
        self.env = env
        self.workdir = workdir  # no `.env` here: the settings come from `env` only
        self.name = name
        self.port = free_port()
        self.proc: asyncio.subprocess.Process | None = None
        self._log: IO[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"

    async def start(self, timeout: float = 60.0) -> None:
        env = _process_env(self.env)
        self._log = self.log_path.open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "engine.app:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "warning",
            cwd=self.workdir,
            env=env,
            stdout=self._log,
            stderr=self._log,
        )
        async with httpx.AsyncClient(base_url=self.base_url, timeout=2) as client:

            async def ready() -> bool:
                if self.proc is not None and self.proc.returncode is not None:
                    raise RuntimeError(f"{self.name} exited: {self.log_path.read_text()[-3000:]}")
                try:
                    return (await client.get("/api/v1/health")).status_code in (200, 503)
                except httpx.TransportError:
                    return False

            await wait_for(ready, timeout=timeout, interval=0.1, message=f"{self.name} start")

    async def kill(self) -> None:
        """SIGKILL: no shutdown code runs at all."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()
        self._close_log()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                async with asyncio.timeout(15):
                    await self.proc.wait()
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            with contextlib.suppress(OSError):
                self._log.close()
            self._log = None


class WorkerProcess(EngineProcess):
    """`python -m engine worker`: AI answers (and background work) without HTTP."""

    owner: str | None = None
    """The worker's owner name in the AI queue (`ai_jobs.owner`), once it runs."""

    async def start(self, timeout: float = 60.0) -> None:
        self._log = self.log_path.open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "engine",
            "worker",
            cwd=self.workdir,
            env=_process_env(self.env),
            stdout=self._log,
            stderr=self._log,
        )
        running = re.compile(r"^worker (\S+): running", re.MULTILINE)

        def ready() -> bool:
            if self.proc is not None and self.proc.returncode is not None:
                raise RuntimeError(f"{self.name} exited: {self.log_path.read_text()[-3000:]}")
            found = running.search(self.log_path.read_text(errors="replace"))
            if found:
                self.owner = found.group(1)
            return found is not None

        await wait_for(ready, timeout=timeout, interval=0.1, message=f"{self.name} start")
