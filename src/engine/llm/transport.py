"""A lean HTTP/1.1 transport for the model client: keep-alive, streamed bodies, httpx's errors.

Why: httpx's default transport (httpcore + h11 + anyio) was the largest single part of the
engine's CPU per AI answer (bench/README.md, "Lawyer answer CPU, second pass"): two socket
writes per request (head, then body), a readability poll of the pooled connection before
each reuse, and several layers of awaits per received chunk. This one is an asyncio
`Protocol` per connection with httptools' C parser (the one Uvicorn uses): the head and the
body leave in one write, a closed idle connection is noticed by the event loop itself (no
poll), and each chunk the server sends is handed to the reader as it arrives.

It speaks plain `http://` only (the factory keeps httpx's own transport for anything else)
and raises the exceptions httpx's transport raises for the same events, so the Ollama
client and `classify_llm_failure` see no difference: `ConnectError` / `ConnectTimeout`,
`ReadTimeout`, `RemoteProtocolError` for a server that closed before the response was
complete, `ReadError` for a connection reset.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any, cast

import httptools
import httpx

KEEPALIVE_SECONDS = 5.0
"""An idle connection older than this is closed rather than reused (httpx's default):
a connection silently dropped by something in between must not swallow a request."""
MAX_IDLE = 20
HIGH_WATER = 1 << 20
"""Bytes of a response body held unread before reading from the socket pauses."""


class _Stale(Exception):
    """A reused connection closed before any byte of the response came: send again."""


class _Connection(asyncio.Protocol):
    """One TCP connection and the response being read on it (one request at a time)."""

    def __init__(self, key: tuple[str, int]) -> None:
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.lost: BaseException | None = None
        self.idle_since = 0.0
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False
        self._reset()

    def _reset(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.error: Exception | None = None
        self.received = False
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.headers_done = False
        self.keep_alive = False
        self.until_close = False
        self.complete = False
        self.chunks: deque[bytes] = deque()
        self.buffered = 0

    # --- asyncio.Protocol ---

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.received = True
        if self.error is None:
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserError as exc:
                self.error = httpx.RemoteProtocolError(f"malformed response: {exc}")
                self.close()
        if self.buffered > HIGH_WATER and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.lost = exc
        self._wake()

    # --- httptools callbacks ---

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.keep_alive = self.parser.should_keep_alive()
        self.headers_done = True
        framed = {name.lower() for name, _ in self.headers} & {
            b"content-length",
            b"transfer-encoding",
        }
        no_body = self.status in (204, 304) or 100 <= self.status < 200
        self.until_close = not framed and not no_body

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self.buffered += len(body)

    def on_message_complete(self) -> None:
        self.complete = True

    # --- used by the transport and the body stream ---

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self, seconds: float | None) -> None:
        """Until something arrives or the connection is lost (`httpx.ReadTimeout` after
        `seconds`)."""
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        try:
            if seconds is None:
                await waiter
            else:
                async with asyncio.timeout(seconds):
                    await waiter
        except TimeoutError:
            raise httpx.ReadTimeout(f"no data from the server in {seconds:g} s") from None
        finally:
            self._waiter = None

    def take(self) -> bytes:
        chunk = self.chunks.popleft()
        self.buffered -= len(chunk)
        if self._paused and self.buffered < HIGH_WATER // 4 and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return chunk

    def broken(self) -> Exception:
        """What the reader is told when the connection ended before the response did."""
        if self.error is not None:
            return self.error
        if isinstance(self.lost, OSError):
            return httpx.ReadError(f"{type(self.lost).__name__}: {self.lost}")
        if not self.headers_done:
            return httpx.RemoteProtocolError("Server disconnected without sending a response.")
        return httpx.RemoteProtocolError(
            "peer closed connection without sending complete message body"
        )

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class _Body(httpx.AsyncByteStream):
    def __init__(
        self, pool: KeepAliveTransport, conn: _Connection, timeout: float | None, head: bool
    ) -> None:
        self._pool, self._conn, self._timeout, self._head = pool, conn, timeout, head
        self._done = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        conn = self._conn
        if self._head:  # no body follows a HEAD response, whatever its headers say
            return
        while True:
            while conn.chunks:
                yield conn.take()
            if conn.complete:
                return
            if conn.error is not None:
                raise conn.error
            if conn.closed:
                if conn.until_close and conn.lost is None:
                    conn.complete = True
                    return
                raise conn.broken()
            await conn.wait(self._timeout)

    async def aclose(self) -> None:
        if self._done:
            return
        self._done = True
        conn = self._conn
        if conn.complete and conn.keep_alive and not conn.closed and not self._head:
            self._pool._give_back(conn)
        else:
            conn.close()


class KeepAliveTransport(httpx.AsyncBaseTransport):
    """`httpx.AsyncClient(transport=KeepAliveTransport())` for `http://` servers."""

    def __init__(
        self, *, max_idle: int = MAX_IDLE, keepalive_seconds: float = KEEPALIVE_SECONDS
    ) -> None:
        self.max_idle = max_idle
        self.keepalive_seconds = keepalive_seconds
        self._idle: dict[tuple[str, int], list[_Connection]] = {}
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme != "http":
            raise httpx.UnsupportedProtocol(f"KeepAliveTransport speaks http only, not {url}")
        timeouts: dict[str, Any] = request.extensions.get("timeout") or {}
        key = (url.host, url.port or 80)
        message = _encode(request, await request.aread())
        head_only = request.method == "HEAD"
        conn = self._reused(key)
        while True:
            fresh = conn is None
            if conn is None:
                conn = await self._connect(key, timeouts.get("connect"))
            try:
                response = await self._exchange(conn, message, timeouts.get("read"), fresh)
            except _Stale:  # the server closed it while idle: once more on a new connection
                conn.close()
                conn = None
                continue
            except BaseException:
                conn.close()
                raise
            break
        return httpx.Response(
            response.status,
            headers=response.headers,
            stream=_Body(self, response, timeouts.get("read"), head_only),
            extensions={"http_version": b"HTTP/1.1"},
        )

    @staticmethod
    async def _exchange(
        conn: _Connection, message: bytes, read_seconds: float | None, fresh: bool
    ) -> _Connection:
        conn._reset()
        assert conn.transport is not None
        if conn.closed or conn.transport.is_closing():
            if not fresh:
                raise _Stale
            raise conn.broken()
        conn.transport.write(message)
        while not conn.headers_done:
            if conn.error is not None:
                raise conn.error
            if conn.closed:
                if not fresh and not conn.received:
                    raise _Stale
                raise conn.broken()
            await conn.wait(read_seconds)
        return conn

    async def _connect(self, key: tuple[str, int], seconds: float | None) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(seconds):
                _, conn = await loop.create_connection(lambda: _Connection(key), *key)
        except TimeoutError:
            raise httpx.ConnectTimeout(f"could not connect to {key[0]}:{key[1]} in time") from None
        except OSError as exc:
            raise httpx.ConnectError(f"{type(exc).__name__}: {exc}") from exc
        return conn

    def _reused(self, key: tuple[str, int]) -> _Connection | None:
        idle = self._idle.get(key)
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if not conn.closed and now - conn.idle_since < self.keepalive_seconds:
                return conn
            conn.close()
        return None

    def _give_back(self, conn: _Connection) -> None:
        if self._closed:
            conn.close()
            return
        idle = self._idle.setdefault(conn.key, [])
        if len(idle) >= self.max_idle:
            idle.pop(0).close()
        conn.idle_since = time.monotonic()
        idle.append(conn)

    async def aclose(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, {}
        for connections in idle.values():
            for conn in connections:
                with contextlib.suppress(Exception):
                    conn.close()


def _encode(request: httpx.Request, body: bytes) -> bytes:
    """The request's head and body as one buffer; a streamed body is sent with its length."""
    url = request.url
    lines = [b"%s %s HTTP/1.1" % (request.method.encode("ascii"), url.raw_path)]
    for name, value in request.headers.raw:
        if name.lower() == b"transfer-encoding":
            lines.append(b"Content-Length: %d" % len(body))
            continue
        lines.append(name + b": " + value)
    lines.append(b"")
    lines.append(body)
    return b"\r\n".join(lines)
