"""HTTP requests whose target reaches the server byte for byte (httpx would normalise `..`)."""

from __future__ import annotations

import http.client
import json
import socket
import time
from dataclasses import dataclass
from typing import Any


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def from_engine(self) -> bool:
        """The engine stamps every answer with X-Request-Id; nginx's own answers lack it."""
        return "x-request-id" in self.headers


def request(
    port: int,
    target: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    source: str | None = None,
    timeout: float = 15,
) -> RawResponse:
    conn = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=timeout, source_address=(source, 0) if source else None
    )
    try:
        conn.request(method, target, body=body, headers=headers or {})
        response = conn.getresponse()
        return RawResponse(
            status=response.status,
            headers={name.lower(): value for name, value in response.getheaders()},
            body=response.read(),
        )
    finally:
        conn.close()


def read_until(sock: socket.socket, marker: bytes, *, timeout: float, seen: bytes = b"") -> bytes:
    """Read from `sock` until `marker` has arrived; everything read so far is returned."""
    deadline = time.monotonic() + timeout
    data = seen
    while marker not in data:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"{marker!r} did not arrive within {timeout:g} s; got {data!r}")
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        if not chunk:
            raise AssertionError(f"connection closed before {marker!r} arrived; got {data!r}")
        data += chunk
    return data
