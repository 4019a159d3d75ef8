"""Pure ASGI middleware (streaming-safe): request ids and a request body size limit."""

from __future__ import annotations

import json
import re
import secrets

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.logging_setup import client_ip_var, request_id_var

MAX_BODY_BYTES = 1024 * 1024
TOO_LARGE = "request body too large"
# A caller's id (nginx's $request_id, a WebClient trace id) is kept only when it cannot break
# a log line: no spaces, quotes or control characters.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,64}")


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID.fullmatch(incoming) else secrets.token_hex(8)
        token = request_id_var.set(request_id)
        client = scope.get("client")
        client_token = client_ip_var.set(client[0] if client else None)
        try:
            declared = headers.get(b"content-length")
            if declared is not None and (
                not declared.isdigit() or int(declared) > self.max_body_bytes
            ):
                await _reject(send, request_id)
                return
            received = 0

            async def limited_receive() -> Message:
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > self.max_body_bytes:
                        # a chunked body with no Content-Length: the handlers answer 413
                        raise HTTPException(413, TOO_LARGE)
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
