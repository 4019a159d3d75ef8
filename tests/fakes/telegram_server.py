"""`FakeTelegram`: a loopback Telegram Bot API server (sendMessage, getMe, webhooks).

    async with FakeTelegram(token="123:abc") as tg:
        tg.fail_next(429, retry_after=1)
        ...  # code under test posts to f"{tg.base_url}/bot123:abc/sendMessage"
        await wait_for_len(tg.sent, 1)

Parameters are accepted the ways Telegram accepts them: query string, JSON body or
urlencoded form (multipart is not supported).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import time
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ._uvicorn import UvicornRunner

DEFAULT_DESCRIPTIONS = {
    400: "Bad Request: chat not found",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


@dataclass
class SentMessage:
    """A message accepted by sendMessage."""

    message_id: int
    chat_id: int | str
    text: str
    parse_mode: str | None
    params: dict[str, Any]  # everything the client sent, e.g. reply_markup


@dataclass
class BotCall:
    """Any Bot API call, including rejected ones (useful to count retries)."""

    method: str
    token: str
    params: dict[str, Any]
    status: int


@dataclass
class _Failure:
    status: int
    description: str
    retry_after: int | None
    method: str | None
    remaining: int


class FakeTelegram:
    """Fake Bot API. With `token` set, other tokens get 401 Unauthorized."""

    def __init__(
        self,
        token: str | None = None,
        *,
        bot_username: str = "fake_assistant_bot",
        threaded: bool = False,
    ) -> None:
        self.token = token
        self.bot_username = bot_username
        self.sent: list[SentMessage] = []
        self.calls: list[BotCall] = []
        self.webhook_url = ""
        self._failures: deque[_Failure] = deque()
        self._message_ids = itertools.count(1)
        app = Starlette(
            routes=[Route("/bot{token}/{method}", self._handle, methods=["GET", "POST"])]
        )
        self._runner = UvicornRunner(app, threaded=threaded)

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self) -> FakeTelegram:
        await self._runner.start()
        return self

    async def stop(self) -> None:
        await self._runner.stop()

    async def __aenter__(self) -> FakeTelegram:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def down(self) -> None:
        """Stop listening: clients get 'connection refused' until `up()`."""
        await self._runner.stop()

    async def up(self) -> None:
        """Listen again on the same port, so `base_url` stays valid."""
        await self._runner.start(self._runner.port)

    @property
    def is_up(self) -> bool:
        return self._runner.running

    @property
    def port(self) -> int:
        return self._runner.port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- scripting ---------------------------------------------------------------------
    def fail_next(
        self,
        status: int,
        description: str | None = None,
        retry_after: int | None = None,
        count: int = 1,
        *,
        method: str | None = None,
    ) -> None:
        """Answer the next `count` calls (of `method` only, if given) with a Bot API error.

        The description defaults to Telegram's wording for the status; 429 defaults to
        "Too Many Requests: retry after N" with `parameters.retry_after` = N (default 1).
        """
        if status == 429:
            retry_after = 1 if retry_after is None else retry_after
            description = description or f"Too Many Requests: retry after {retry_after}"
        description = description or DEFAULT_DESCRIPTIONS.get(status, f"Error {status}")
        self._failures.append(_Failure(status, description, retry_after, method, count))

    def reset(self) -> None:
        self.sent.clear()
        self.calls.clear()
        self._failures.clear()

    def texts(self, chat_id: int | str | None = None) -> list[str]:
        """Texts sent so far (to `chat_id` only, if given)."""
        return [m.text for m in self.sent if chat_id is None or str(m.chat_id) == str(chat_id)]

    def _take_failure(self, method: str) -> _Failure | None:
        for failure in self._failures:
            if failure.method in (None, method):
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self._failures.remove(failure)
                return failure
        return None

    # -- HTTP --------------------------------------------------------------------------
    async def _handle(self, request: Request) -> JSONResponse:
        token, method = request.path_params["token"], request.path_params["method"]
        params = await _params(request)
        call = BotCall(method, token, params, 200)
        self.calls.append(call)
        if self.token is not None and token != self.token:
            failure: _Failure | None = _Failure(401, "Unauthorized", None, None, 0)
        else:
            failure = self._take_failure(method)
        if failure is None:
            handler = getattr(self, f"_api_{method}", None)
            if handler is None:
                failure = _Failure(404, "Not Found", None, None, 0)
            else:
                result = handler(params)
                if isinstance(result, _Failure):
                    failure = result
                else:
                    return JSONResponse({"ok": True, "result": result})
        call.status = failure.status
        error: dict[str, Any] = {
            "ok": False,
            "error_code": failure.status,
            "description": failure.description,
        }
        if failure.retry_after is not None:
            error["parameters"] = {"retry_after": failure.retry_after}
        return JSONResponse(error, status_code=failure.status)

    def _bot_user(self) -> dict[str, Any]:
        prefix = (self.token or "").split(":")[0]
        return {
            "id": int(prefix) if prefix.isdigit() else 1000,
            "is_bot": True,
            "first_name": "Fake Assistant",
            "username": self.bot_username,
        }

    def _api_getMe(self, _: dict[str, Any]) -> dict[str, Any]:  # noqa: N802 - API name
        return {**self._bot_user(), "can_join_groups": True, "supports_inline_queries": False}

    def _api_sendMessage(self, p: dict[str, Any]) -> dict[str, Any] | _Failure:  # noqa: N802
        chat_id, text = p.get("chat_id"), p.get("text")
        if chat_id in (None, ""):
            return _Failure(400, "Bad Request: chat_id is empty", None, None, 0)
        if not text:
            return _Failure(400, "Bad Request: message text is empty", None, None, 0)
        if isinstance(chat_id, str) and chat_id.lstrip("-").isdigit():
            chat_id = int(chat_id)
        message = SentMessage(next(self._message_ids), chat_id, str(text), p.get("parse_mode"), p)
        self.sent.append(message)
        chat_type = (
            "channel" if isinstance(chat_id, str) else ("private" if chat_id > 0 else "supergroup")
        )
        return {
            "message_id": message.message_id,
            "from": self._bot_user(),
            "chat": {"id": chat_id, "type": chat_type},
            "date": int(time.time()),
            "text": message.text,
        }

    def _api_setWebhook(self, p: dict[str, Any]) -> bool:  # noqa: N802
        self.webhook_url = str(p.get("url", ""))
        return True

    def _api_deleteWebhook(self, _: dict[str, Any]) -> bool:  # noqa: N802
        self.webhook_url = ""
        return True

    def _api_getWebhookInfo(self, _: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        return {"url": self.webhook_url, "has_custom_certificate": False, "pending_update_count": 0}


async def _params(request: Request) -> dict[str, Any]:
    params: dict[str, Any] = dict(request.query_params)
    body = await request.body()
    if not body:
        return params
    content_type = request.headers.get("content-type", "")
    if "json" in content_type:
        with contextlib.suppress(ValueError):
            loaded = json.loads(body)
            params.update(loaded if isinstance(loaded, dict) else {})
    elif "x-www-form-urlencoded" in content_type:
        params.update(parse_qsl(body.decode()))
    return params
