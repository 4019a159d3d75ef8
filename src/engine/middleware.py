"""Pure ASGI middleware (streaming-safe): request ids, a request body size limit and a JSON
nesting limit."""

from __future__ import annotations

import json
import re
import secrets

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.logging_setup import client_ip_var, request_id_var

MAX_BODY_BYTES = 1024 * 1024
TOO_LARGE = "request body too large"
MAX_JSON_DEPTH = 64
TOO_DEEP = f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
_JSON_SPECIAL = re.compile(rb'[\[\]{}"\\]')
# A caller's id (nginx's $request_id, a WebClient trace id) is kept only when it cannot break
# a log line: no spaces, quotes or control characters.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,64}")


class NestingGauge:
    """Counts bracket depth outside strings over a body fed in chunks, in one linear pass.

    Python's JSON parser recurses once per level: a body of 100,000 `[` raises RecursionError
    (a 500, and an unraisable error in whatever formats it). Every body is measured here
    before any route parses it, JSON or not: routes such as the Telegram webhook read raw
    bytes and parse them themselves. A chunk that, with all before it, holds no more opening
    brackets than the limit cannot be too deep and is not scanned byte by byte.
    """

    def __init__(self, limit: int = MAX_JSON_DEPTH) -> None:
        self.limit = limit
        self.opened = 0
        self.pending: list[bytes] = []
        self.scanning = False
        self.depth = 0
        self.in_string = False
        self.offset = 0
        self.escaped_at = -1

    def too_deep(self, chunk: bytes) -> bool:
        if not self.scanning:
            self.opened += chunk.count(b"[") + chunk.count(b"{")
            self.pending.append(chunk)
            if self.opened <= self.limit:
                return False
            self.scanning = True
            chunks, self.pending = self.pending, []
            return any(self._scan(c) for c in chunks)
        return self._scan(chunk)

    def _scan(self, chunk: bytes) -> bool:
        base = self.offset
        self.offset += len(chunk)
        for match in _JSON_SPECIAL.finditer(chunk):
            position = base + match.start()
            if position == self.escaped_at:
                continue
            char = chunk[match.start()]
            if self.in_string:
                if char == 0x22:  # "
                    self.in_string = False
                elif char == 0x5C:  # backslash: the next byte is escaped
                    self.escaped_at = position + 1
            elif char == 0x22:
                self.in_string = True
            elif char in (0x5B, 0x7B):  # [ {
                self.depth += 1
                if self.depth > self.limit:
                    return True
            elif char in (0x5D, 0x7D) and self.depth:  # ] }
                self.depth -= 1
        return False


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int = MAX_BODY_BYTES,
        max_json_depth: int = MAX_JSON_DEPTH,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_json_depth = max_json_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # the two headers read here, in one pass (the last one wins, as in a dict of them)
        incoming_raw = b""
        declared: bytes | None = None
        for name, value in scope.get("headers") or ():
            if name == b"x-request-id":
                incoming_raw = value
            elif name == b"content-length":
                declared = value
        incoming = incoming_raw.decode("latin-1")
        request_id = incoming if _REQUEST_ID.fullmatch(incoming) else secrets.token_hex(8)
        token = request_id_var.set(request_id)
        client = scope.get("client")
        client_token = client_ip_var.set(client[0] if client else None)
        try:
            if declared is not None and (
                not declared.isdigit() or int(declared) > self.max_body_bytes
            ):
                await _reject(send, request_id)
                return
            received = 0
            gauge = NestingGauge(self.max_json_depth)

            async def limited_receive() -> Message:
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    chunk = message.get("body", b"")
                    received += len(chunk)
                    if received > self.max_body_bytes:
                        # a chunked body with no Content-Length: the handlers answer 413
                        raise HTTPException(413, TOO_LARGE)
                    if gauge.too_deep(chunk):
                        # raised while the body is still being read, so before any parse
                        raise HTTPException(400, TOO_DEEP)
                return message

            async def send_with_id(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message.setdefault("headers", [])
                    message["headers"] = [
                        *message["headers"],
                        (b"x-request-id", request_id.encode("latin-1")),
                    ]
                await send(message)

            await self.app(scope, limited_receive, send_with_id)
        finally:
            client_ip_var.reset(client_token)
            request_id_var.reset(token)


async def _reject(send: Send, request_id: str) -> None:
    body = json.dumps({"detail": TOO_LARGE}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-request-id", request_id.encode("latin-1")),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
