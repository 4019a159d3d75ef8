"""A Server-Sent Events reader over real HTTP: collects events and notes when the server
closes the stream."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import httpx


class EventStream:
    """GET `path` with `headers` and read its events in the background.

    `events` holds (type, data) in order; `closed_at` is the monotonic time at which the
    server ended the response (None while it is open).
    """

    def __init__(self, base_url: str, path: str, headers: dict[str, str]) -> None:
        self.base_url = base_url
        self.path = path
        self.headers = headers
        self.events: list[tuple[str, Any]] = []
        self.ids: list[str] = []
        self.status: int | None = None
        self.closed_at: float | None = None
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._client = httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(30.0))

    async def __aenter__(self) -> EventStream:
        self._task = asyncio.create_task(self._read())
        await self.wait(lambda: any(kind == "ready" for kind, _ in self.events))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._client.aclose()

    async def _read(self) -> None:
        try:
            async with self._client.stream("GET", self.path, headers=self.headers) as response:
                self.status = response.status_code
                kind, data, event_id = None, [], None
                async for line in response.aiter_lines():
                    if line.startswith("event:"):
                        kind = line.split(":", 1)[1].strip()
                    elif line.startswith("data:"):
                        data.append(line.split(":", 1)[1].strip())
                    elif line.startswith("id:"):
                        event_id = line.split(":", 1)[1].strip()
                    elif not line and kind is not None:
                        self.events.append((kind, json.loads("\n".join(data))))
                        if event_id is not None:
                            self.ids.append(event_id)
                        kind, data, event_id = None, [], None
                        self._changed.set()
        finally:
            self.closed_at = time.monotonic()
            self._changed.set()

    async def wait(self, condition: Callable[[], object], timeout: float = 5.0) -> None:
        """Until `condition()` holds (checked on every event and at the close)."""
        async with asyncio.timeout(timeout):
            while not condition():
                if self.closed_at is not None and not condition():
                    raise AssertionError(f"stream closed first; events: {self.events[-5:]}")
                self._changed.clear()
                await self._changed.wait()

    async def wait_closed(self, timeout: float = 5.0) -> float:
        """Wait for the server to end the stream; the monotonic time it did."""
        async with asyncio.timeout(timeout):
            while self.closed_at is None:
                self._changed.clear()
                await self._changed.wait()
        return self.closed_at

    def of_type(self, kind: str) -> list[Any]:
        return [data for event_kind, data in self.events if event_kind == kind]
