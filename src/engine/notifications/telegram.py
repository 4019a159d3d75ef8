"""Telegram Bot API `sendMessage` over httpx."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import httpx

from engine.notifications.base import BaseSender, DeliveryError

log = logging.getLogger(__name__)

MAX_MESSAGE_UNITS = 4096  # Telegram counts UTF-16 code units
_CHAT_ID = re.compile(r"^-?\d{1,20}$")
_CHANNEL_NAME = re.compile(r"^@[A-Za-z][A-Za-z0-9_]{3,31}$")


def is_chat_address(address: str) -> bool:
    """A numeric chat id or a public @channel name."""
    return bool(_CHAT_ID.match(address) or _CHANNEL_NAME.match(address))


def _units(char: str) -> int:
    return 2 if ord(char) > 0xFFFF else 1


def split_message(text: str, limit: int = MAX_MESSAGE_UNITS) -> list[str]:
    """Pieces of at most `limit` UTF-16 units, cut after a line break or a space if one is near."""
    pieces: list[str] = []
    rest = text
    while rest:
        used, cut = 0, 0
        for index, char in enumerate(rest):
            used += _units(char)
            if used > limit:
                break
            cut = index + 1
        else:
            pieces.append(rest)
            break
        window = rest[:cut]
        boundary = max(window.rfind("\n"), -1)
        if boundary < cut // 2:
            boundary = window.rfind(" ")
        if boundary >= cut // 2:
            cut = boundary + 1
        piece, rest = rest[:cut], rest[cut:]
        if piece.strip():
            pieces.append(piece)
    return pieces or [text]


class TelegramSender(BaseSender):
    channel_type = "telegram"

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        token: str,
        base_url: str = "https://api.telegram.org",
        timeout: float = 15.0,
        max_inline_wait: float = 5.0,
    ) -> None:
        self.http = http
        self._url = f"{base_url.rstrip('/')}/bot{token}/sendMessage"
        self.timeout = timeout
        self.max_inline_wait = max_inline_wait

    async def send(self, address: str, subject: str, body: str) -> None:
        text = f"{subject}\n\n{body}" if subject and body else (subject or body)
        for piece in split_message(text):
            await self.send_text(address, piece)

    async def send_text(self, chat_id: str, text: str) -> dict[str, Any]:
        """Send one message (≤ 4096 units); a short 429 wait is honoured here, once."""
        payload = {"chat_id": int(chat_id) if _CHAT_ID.match(chat_id) else chat_id, "text": text}
        waited = False
        while True:
            try:
                response = await self.http.post(self._url, json=payload, timeout=self.timeout)
            except httpx.HTTPError as exc:
                raise DeliveryError(f"telegram unreachable: {exc!r}", transient=True) from exc
            data = _json(response)
            if response.status_code == 200 and data.get("ok"):
                result: dict[str, Any] = data.get("result") or {}
                return result
            description = str(data.get("description") or response.reason_phrase)
            if response.status_code == 429:
                retry_after = _retry_after(data, response)
                if not waited and retry_after <= self.max_inline_wait:
                    log.info("telegram asks to wait %.0fs; waiting", retry_after)
                    await asyncio.sleep(retry_after)
                    waited = True
                    continue
                raise DeliveryError(
                    f"telegram 429: {description}", transient=True, retry_after=retry_after
                )
            transient = response.status_code >= 500
            raise DeliveryError(
                f"telegram {response.status_code}: {description}", transient=transient
            )


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _retry_after(data: dict[str, Any], response: httpx.Response) -> float:
    parameters = data.get("parameters")
    value: Any = parameters.get("retry_after") if isinstance(parameters, dict) else None
    if value is None:
        value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        return 1.0
