"""Run an ASGI app with a real uvicorn server on 127.0.0.1, inside the test's event loop.

Shared by the HTTP fakes. `stop()` + `start(port=old_port)` gives the "service went down and
came back on the same address" behaviour.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import Any

import uvicorn


class DropConnection(Exception):
    """Raised by a handler to make uvicorn close the TCP connection abruptly.

    Once the response has started uvicorn reacts to an app exception by closing the
    transport, so the client sees a truncated body (no final chunk / missing bytes).
    """


class _DropFilter(logging.Filter):
    """Hide uvicorn's 'Exception in ASGI application' traceback for deliberate drops."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, DropConnection)


_uvicorn_error_log = logging.getLogger("uvicorn.error")
if not any(isinstance(f, _DropFilter) for f in _uvicorn_error_log.filters):
    _uvicorn_error_log.addFilter(_DropFilter())


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn would steal SIGINT/SIGTERM from pytest while serving; we stop it ourselves.
        yield


class UvicornRunner:
    """Start/stop uvicorn for `app`; by default as a task in the running loop.

    With `threaded=True` the server gets its own thread and event loop. Use that when the
    code under test makes *blocking* calls to the fake from the test's loop thread (sync
    `invoke`, `ChatOllama(validate_model_on_init=True)`, Starlette `TestClient` inside an
    async test): an in-loop server could never answer them.
    """

    def __init__(self, app: Any, *, threaded: bool = False) -> None:
        self.app = app
        self.threaded = threaded
        self.port = 0
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None
        self._thread_error: BaseException | None = None

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def stopping(self) -> bool:
        """True once stop() began; long-waiting handlers poll it to let shutdown finish."""
        return self._server is None or self._server.should_exit

    async def start(self, port: int = 0) -> int:
        """Listen on 127.0.0.1:`port` (0 = any free port) and return the bound port."""
        if self._server is not None:
            return self.port
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=port,
            http="h11",
            loop="asyncio",
            lifespan="off",
            log_config=None,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=2,
        )
        server = self._server = _Server(config)
        if self.threaded:
            self._thread_error = None
            self._thread = threading.Thread(target=self._thread_main, args=(server,), daemon=True)
            self._thread.start()
        else:
            self._task = asyncio.create_task(server.serve())
        try:
            while not server.started:
                failed = self._thread_error or (self._task is not None and self._task.done())
                if failed or (self._thread is not None and not self._thread.is_alive()):
                    raise RuntimeError(f"uvicorn failed to start on 127.0.0.1:{port}")
                await asyncio.sleep(0.002)
        except BaseException:
            await self.stop()
            raise
        self.port = server.servers[0].sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        """Stop listening, close connections and wait until uvicorn has fully exited."""
        server, self._server = self._server, None
        if server is None:
            return
        server.should_exit = True
        if self._task is not None:
            task, self._task = self._task, None
            with contextlib.suppress(BaseException):  # SystemExit if the bind had failed
                await task
        if self._thread is not None:
            thread, self._thread = self._thread, None
            await asyncio.to_thread(thread.join)

    def _thread_main(self, server: _Server) -> None:
        try:
            asyncio.run(server.serve())
        except BaseException as exc:  # noqa: BLE001 - reported to start()
            self._thread_error = exc
