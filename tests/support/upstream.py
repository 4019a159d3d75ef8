"""A stand-in for the engine behind nginx: records raw request targets, streams SSE on demand.

Paths ending in `/events` get a Server-Sent Events stream whose first event is sent at
once and whose second event waits for `release`: a client that sees the first event before
`release` proves nothing between it and this server buffers the stream. Any other path gets
a small JSON answer.
"""

from __future__ import annotations

import json
import socket
import threading
from types import TracebackType


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


class StreamingUpstream:
    def __init__(self, release_timeout: float = 30) -> None:
        self.request_targets: list[str] = []
        self.release = threading.Event()
        self.release_timeout = release_timeout
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._server.getsockname()[1]
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> StreamingUpstream:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closed.set()
        self.release.set()
        self._server.close()
        self._thread.join(5)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                data = conn.recv(65536)
                if not data:
                    return
                head += data
            request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
            target = request_line.split(" ")[1]
            self.request_targets.append(target)
            if target.split("?")[0].endswith("/events"):
                # Like uvicorn: chunked to HTTP/1.1, to HTTP/1.0 the body ends at close.
                chunked = request_line.endswith("HTTP/1.1")
                frame = _chunk if chunked else bytes
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\n"
                    b"Content-Type: text/event-stream\r\n"
                    b"Cache-Control: no-cache\r\n"
                    + (b"Transfer-Encoding: chunked\r\n" if chunked else b"")
                    + b"Connection: close\r\n\r\n"
                    + frame(b"event: first\ndata: 1\n\n")
                )
                self.release.wait(self.release_timeout)
                conn.sendall(
                    frame(b"event: second\ndata: 2\n\n") + (b"0\r\n\r\n" if chunked else b"")
                )
                return
            body = json.dumps({"upstream_target": target}).encode()
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n".encode()
                + b"X-Upstream: stand-in\r\nConnection: close\r\n\r\n"
                + body
            )
