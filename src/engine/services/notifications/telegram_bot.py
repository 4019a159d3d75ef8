"""The Telegram bot: linking chats to users and answering them, fed by the webhook.

The webhook answers Telegram at once; the work (a database write, an agent run, a reply)
happens in a background task. Each update is claimed in the database by its update_id,
so a repeat, even one arriving at another engine process at the same moment, is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import re
import secrets
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any

from engine.config import Settings
from engine.errors import Conflict, Forbidden, Unauthorized
from engine.models.notification import LinkToken
from engine.models.user import User
from engine.notifications.base import DeliveryError
from engine.notifications.telegram import TelegramSender
from engine.services.audit_service import AuditTrail
from engine.services.calendar.scheduler_service import ProactiveAgentRunner, run_agent_safely
from engine.storage.notifications import ChannelStorage
from engine.storage.postgres.clock import DatabaseClock
from engine.storage.postgres.database import Database
from engine.storage.telegram import TelegramLinkStorage, TelegramUpdateStorage

log = logging.getLogger(__name__)

TOKEN_BYTES = 32  # 256 bits; token_urlsafe gives 43 characters of [A-Za-z0-9_-]
MAX_START_PARAMETER = 64  # Telegram's limit for t.me/<bot>?start=<parameter>
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
TELEGRAM_PRIORITY = 10  # a linked chat is tried before channels left at the default 0
UPDATE_MEMORY = timedelta(days=7)

MSG_LINKED = "Готово: уведомления RuGPT Engine будут приходить в этот чат. /stop — отключить."
MSG_BAD_TOKEN = (
    "Ссылка недействительна: она устарела или уже использована. "
    "Получите новую в настройках уведомлений."
)
MSG_HOW_TO_LINK = (
    "Чтобы получать уведомления, откройте ссылку подключения из настроек уведомлений "
    "RuGPT Engine (команда /start с кодом)."
)
MSG_UNLINKED = "Уведомления в этот чат отключены."
MSG_NOT_LINKED = "Этот чат не был подключён."
MSG_AGENT_FAILED = "Не удалось получить ответ: {error}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_update(payload: bytes) -> dict[str, Any] | None:
    """The update as a dict with an integer update_id, or None when it is not one."""
    try:
        update = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(update, dict):
        return None
    update_id = update.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool) or update_id < 0:
        return None
    if update_id >= 2**63:
        return None
    return update


def _command(text: str) -> tuple[str, str]:
    """('/start', 'argument') for '/start@my_bot argument'; ('', text) for plain text."""
    if not text.startswith("/"):
        return "", text
    head, _, rest = text.partition(" ")
    return head.split("@", 1)[0].lower(), rest.strip()


class TelegramBotService:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        links: TelegramLinkStorage,
        updates: TelegramUpdateStorage,
        channels: ChannelStorage,
        sender: TelegramSender | None,
        runner: ProactiveAgentRunner,
        clock: DatabaseClock,
        audit: AuditTrail,
    ) -> None:
        self.audit = audit
        self.settings = settings
        self.db = db
        self.links = links
        self.updates = updates
        self.channels = channels
        self.sender = sender
        self.runner = runner
        self.clock = clock
        self._tasks: set[asyncio.Task[None]] = set()

    # -- linking -----------------------------------------------------------------------
    async def create_link_token(self, actor: User) -> LinkToken:
        if self.sender is None:
            raise Conflict("Telegram is not configured on this server")
        token = secrets.token_urlsafe(TOKEN_BYTES)
        assert len(token) <= MAX_START_PARAMETER
        expires_at = await self.clock.now() + timedelta(
            seconds=self.settings.telegram_link_token_ttl_seconds
        )
        await self.links.create(actor.org_id, actor.id, hash_token(token), expires_at=expires_at)
        bot = self.settings.telegram_bot_username.lstrip("@")
        deep_link = f"https://t.me/{bot}?start={token}" if bot else None
        return LinkToken(token=token, expires_at=expires_at, deep_link=deep_link)

    # -- webhook -----------------------------------------------------------------------
    def check_secret(self, header: str | None) -> None:
        expected = self.settings.telegram_webhook_secret.get_secret_value()
        if not expected:
            raise Forbidden("the Telegram webhook is not configured on this server")
        if not header:
            raise Unauthorized("missing X-Telegram-Bot-Api-Secret-Token")
        if not hmac.compare_digest(header.encode(), expected.encode()):
            raise Forbidden("wrong X-Telegram-Bot-Api-Secret-Token")

    async def accept(self, payload: bytes) -> bool:
        """Claim one update and start its processing; False when it is ignored."""
        update = parse_update(payload)
        if update is None:
            log.warning("ignoring a malformed Telegram update: %r", payload[:300])
            return False
        if not await self.updates.claim(update["update_id"]):
            log.info("Telegram update %s already taken; ignored", update["update_id"])
            return False
        self._spawn(self._process(update))
        return True

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _process(self, update: dict[str, Any]) -> None:
        try:
            await self._handle(update)
        except Exception:  # a background task has nobody to report to but the log
            log.exception("processing Telegram update %s failed", update.get("update_id"))

    async def _handle(self, update: dict[str, Any]) -> None:
        message = update.get("message")
        chat = message.get("chat") if isinstance(message, dict) else None
        chat_id = chat.get("id") if isinstance(chat, dict) else None
        text = message.get("text") if isinstance(message, dict) else None
        if not isinstance(chat_id, int | str) or isinstance(chat_id, bool):
            log.info("Telegram update %s has no chat; ignored", update["update_id"])
            return
        if not isinstance(text, str) or not text.strip():
            return
        chat = str(chat_id)
        if "\x00" in chat or "\x00" in text:
            # PostgreSQL text cannot hold NUL: refused here rather than failing in a query
            log.warning(
                "Telegram update %s refused: NUL byte in its chat id or text", update["update_id"]
            )
            return
        command, argument = _command(text.strip())
        if command == "/start":
            await self._start(chat, argument)
        elif command == "/stop":
            async with self.db.system("telegram").transaction() as conn:
                removed = await self.channels.unlink_telegram(chat, conn=conn)
                for link in removed:
                    await self.audit.record(
                        conn,
                        org_id=link.org_id,
                        actor=link.user_id,
                        action="channel.deleted",
                        target_type="channel",
                        target_id=link.channel_id,
                        details={"type": "telegram", "via": "telegram /stop"},
                    )
            await self._reply(chat, MSG_UNLINKED if removed else MSG_NOT_LINKED)
        elif command:
            await self._reply(chat, MSG_HOW_TO_LINK)
        else:
            await self._ask(chat, argument)

    async def _start(self, chat_id: str, token: str) -> None:
        if not token:
            await self._reply(chat_id, MSG_HOW_TO_LINK)
            return
        linked = None
        if _TOKEN.match(token):
            async with self.db.system("telegram").transaction() as conn:
                now = await self.clock.now(conn)
                owner = await self.links.consume(hash_token(token), chat_id, now=now, conn=conn)
                if owner is not None:
                    org_id, user_id = owner
                    linked = await self.channels.link_telegram(
                        org_id, user_id, chat_id, priority=TELEGRAM_PRIORITY, conn=conn
                    )
                    await self.audit.record(
                        conn,
                        org_id=org_id,
                        actor=user_id,
                        action="channel.created",
                        target_type="channel",
                        target_id=linked.id,
                        details={"type": "telegram", "via": "telegram /start"},
                    )
        if linked is None:
            log.info("Telegram chat %s: /start with an unusable token", chat_id)
            await self._reply(chat_id, MSG_BAD_TOKEN)
            return
        log.info("Telegram chat %s linked to user %s", chat_id, linked.user_id)
        await self._reply(chat_id, MSG_LINKED)

    async def _ask(self, chat_id: str, text: str) -> None:
        owner = await self.channels.telegram_owner(chat_id)
        if owner is None:
            await self._reply(chat_id, MSG_HOW_TO_LINK)
            return
        outcome = await run_agent_safely(
            self.runner,
            time_limit=self.settings.scheduler_agent_timeout_seconds,
            org_id=owner.org_id,
            user_id=owner.user_id,
            role_code=self.settings.telegram_default_role,
            prompt=text,
            context="Сообщение пользователя в Telegram.",
        )
        reply = outcome.text or MSG_AGENT_FAILED.format(error=outcome.error)
        await self._reply(chat_id, reply)

    async def _reply(self, chat_id: str, text: str) -> None:
        if self.sender is None:
            log.warning("cannot answer Telegram chat %s: no bot token", chat_id)
            return
        try:
            await self.sender.send(chat_id, "", text)
        except DeliveryError as exc:
            log.warning("answer to Telegram chat %s failed: %s", chat_id, exc)

    # -- upkeep ------------------------------------------------------------------------
    async def forget_old_updates(self) -> int:
        return await self.updates.forget_before(await self.clock.now() - UPDATE_MEMORY)

    async def drain(self) -> None:
        """Wait for the updates being processed now (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self, grace: float = 10.0) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.drain(), grace)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
