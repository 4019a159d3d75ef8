"""Notifications: queued in the outbox, delivered by priority over the user's channels.

`notify` only stores; `dispatch_pending` (run by a background loop in every engine process,
and directly by tests) claims due notifications with SKIP LOCKED and delivers them under a
short lease (NOTIFICATION_LEASE_SECONDS, 60 s) that a heartbeat renews every third of it
while the batch is in flight: a slow send is never taken over, and the deliveries of a
process that died are taken over by another one as soon as the lease runs out. A
notification goes to the highest-priority channel that works, falling through on failure,
or to every channel when `all_channels` is set. Each try on each channel is a row of
notification_log. Transient failures are retried with exponential backoff, permanent ones
are not; a channel that delivered or failed for good is never tried again for the same
notification.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

import asyncpg
from email_validator import EmailNotValidError, validate_email

from engine.config import Settings
from engine.errors import Conflict, Forbidden, NotFound, Unprocessable
from engine.models.notification import (
    AttemptStatus,
    Channel,
    ChannelType,
    DeliveryAttempt,
    Notification,
    NotificationStatus,
)
from engine.models.user import User
from engine.notifications.base import BaseSender, DeliveryError
from engine.notifications.telegram import is_chat_address
from engine.services.audit_service import AuditTrail
from engine.services.background import renewing_leases
from engine.services.identity.access import require_org_admin
from engine.storage.notifications import ChannelStorage, NotificationLogStorage, NotificationStorage
from engine.storage.postgres.clock import DatabaseClock
from engine.storage.postgres.database import Database, Executor
from engine.storage.users import UserStorage

log = logging.getLogger(__name__)

MAX_SUBJECT = 300
MAX_BODY = 100_000
MAX_ERROR = 1000


@dataclass(frozen=True, slots=True)
class _Attempt:
    log_id: int
    status: AttemptStatus
    error: str | None
    retry_after: float


@dataclass(frozen=True, slots=True)
class _PassResult:
    delivered: bool
    retryable: bool
    retry_after: float
    errors: list[str]


def backoff_delay(attempt: int, *, base: float, cap: float) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based): base, 2×base, 4×base…"""
    return float(min(cap, base * 2 ** max(0, attempt - 1)))


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class NotificationService:
    def __init__(
        self,
        settings: Settings,
        channels: ChannelStorage,
        outbox: NotificationStorage,
        attempts_log: NotificationLogStorage,
        users: UserStorage,
        senders: Mapping[str, BaseSender],
        clock: DatabaseClock,
        db: Database,
        audit: AuditTrail,
    ) -> None:
        self.db = db
        self.audit = audit
        self.settings = settings
        self.channels = channels
        self.outbox = outbox
        self.attempts_log = attempts_log
        self.users = users
        self.senders = dict(senders)
        self.clock = clock
        self.on_queued: Callable[[], None] | None = None  # wakes the dispatcher loop

    # -- queueing ----------------------------------------------------------------------
    async def notify(
        self,
        org_id: UUID,
        user_id: UUID,
        *,
        subject: str,
        body: str,
        all_channels: bool = False,
        source: str = "system",
        conn: Executor | None = None,
    ) -> UUID:
        """Store a notification for delivery and return its id.

        Pass `conn` to queue inside your transaction; then call `wake()` after the commit.
        """
        if await self.users.get(org_id, user_id, conn=conn) is None:
            raise NotFound("user not found")
        notification_id = await self.outbox.enqueue(
            org_id,
            user_id,
            subject=_clip(subject.strip() or "Уведомление", MAX_SUBJECT),
            body=_clip(body, MAX_BODY),
            all_channels=all_channels,
            source=_clip(source, 64),
            conn=conn,
        )
        if conn is None:
            self.wake()
        return notification_id

    def wake(self) -> None:
        if self.on_queued is not None:
            self.on_queued()

    # -- delivering --------------------------------------------------------------------
    async def dispatch_pending(self) -> int:
        """One pass: deliver every notification that is due now; return how many were tried."""
        settings = self.settings
        handled = 0
        limit = asyncio.Semaphore(settings.notification_concurrency)

        in_flight: dict[UUID, int] = {}  # claimed and not finished: id -> attempt number

        async def deliver(notification: Notification) -> None:
            try:
                async with limit:
                    await self._deliver(notification)
            except Exception:  # the lease expires and another pass retries it
                log.exception("delivering notification %s failed", notification.id)
            finally:
                in_flight.pop(notification.id, None)

        while True:
            now = await self.clock.now()
            claimed = await self.outbox.claim(
                now,
                lease_until=now + timedelta(seconds=settings.notification_lease_seconds),
                limit=settings.notification_batch_size,
            )
            if claimed:
                in_flight.update((n.id, n.attempts) for n in claimed)
                async with renewing_leases(
                    in_flight,
                    lease_seconds=settings.notification_lease_seconds,
                    now=self.clock.now,
                    renew=lambda claims, until: self.outbox.renew(claims, lease_until=until),
                    what="notifications",
                ):
                    await asyncio.gather(*(deliver(n) for n in claimed))
            handled += len(claimed)
            if len(claimed) < settings.notification_batch_size:
                return handled

    async def _deliver(self, notification: Notification) -> None:
        user = await self.users.get(notification.org_id, notification.user_id)
        if user is None or not user.is_active:
            await self._close(notification, NotificationStatus.FAILED, "recipient is not active")
            return
        channels = await self.channels.deliverable(notification.org_id, notification.user_id)
        if not channels:
            await self._close(
                notification, NotificationStatus.FAILED, "no enabled notification channels"
            )
            return
        settled = await self.attempts_log.settled_channels(notification.org_id, notification.id)
        delivered_before = AttemptStatus.SENT in settled.values()
        if delivered_before and not notification.all_channels:
            await self._close(notification, NotificationStatus.SENT, None)
            return
        todo = [c for c in channels if c.id not in settled]
        result = await self._try_channels(notification, todo)
        delivered = delivered_before or result.delivered
        error = _clip("; ".join(result.errors), MAX_ERROR) if result.errors else None
        finished = not result.retryable or (delivered and not notification.all_channels)
        if finished:
            status = NotificationStatus.SENT if delivered else NotificationStatus.FAILED
            await self._close(notification, status, error)
        elif notification.attempts >= self.settings.notification_max_attempts:
            status = NotificationStatus.SENT if delivered else NotificationStatus.FAILED
            await self._close(
                notification, status, f"gave up after {notification.attempts} attempts: {error}"
            )
        else:
            delay = backoff_delay(
                notification.attempts,
                base=self.settings.notification_backoff_base_seconds,
                cap=self.settings.notification_backoff_max_seconds,
            )
            at = await self.clock.now() + timedelta(seconds=max(delay, result.retry_after))
            await self.outbox.retry_later(
                notification.org_id, notification.id, notification.attempts, at=at, last_error=error
            )

    async def _try_channels(
        self, notification: Notification, channels: list[Channel]
    ) -> _PassResult:
        delivered, retryable, retry_after, errors = False, False, 0.0, []
        for channel in channels:
            tried = await self._attempt(
                channel,
                notification.subject,
                notification.body,
                attempt=notification.attempts,
                notification_id=notification.id,
                source=notification.source,
            )
            if tried.status is AttemptStatus.SENT:
                delivered = True
                if not notification.all_channels:
                    break
                continue
            errors.append(f"{channel.type.value}: {tried.error}")
            if tried.status is AttemptStatus.TRANSIENT_ERROR:
                retryable = True
                retry_after = max(retry_after, tried.retry_after)
        return _PassResult(delivered, retryable, retry_after, errors)

    async def _attempt(
        self,
        channel: Channel,
        subject: str,
        body: str,
        *,
        attempt: int,
        notification_id: UUID | None,
        source: str,
    ) -> _Attempt:
        """Try one channel once and log the try."""
        log_id = await self.attempts_log.start(
            channel.org_id,
            channel.user_id,
            channel,
            attempt=attempt,
            notification_id=notification_id,
            source=source,
        )
        status, error, wait = AttemptStatus.SENT, None, 0.0
        sender = self.senders.get(channel.type.value)
        try:
            if sender is None:
                raise DeliveryError(
                    f"{channel.type.value} is not configured on this server", transient=False
                )
            await sender.send(channel.address, subject, body)
        except DeliveryError as exc:
            transient = exc.transient
            status = AttemptStatus.TRANSIENT_ERROR if transient else AttemptStatus.PERMANENT_ERROR
            error, wait = _clip(str(exc), MAX_ERROR), exc.retry_after or 0.0
            log.info("channel %s (%s): %s", channel.id, channel.type.value, error)
        except Exception as exc:  # a sender bug: log it, treat it as worth another try
            log.exception("sender %s failed unexpectedly", channel.type.value)
            status, error = AttemptStatus.TRANSIENT_ERROR, _clip(repr(exc), MAX_ERROR)
        await self.attempts_log.finish(channel.org_id, log_id, status, error)
        return _Attempt(log_id, status, error, wait)

    async def _close(
        self, notification: Notification, status: NotificationStatus, error: str | None
    ) -> None:
        if not await self.outbox.finish(
            notification.org_id,
            notification.id,
            notification.attempts,
            status=status,
            last_error=error,
        ):
            log.warning("notification %s was taken over by another process", notification.id)

    # -- channels ----------------------------------------------------------------------
    async def list_channels(self, actor: User) -> list[Channel]:
        return await self.channels.list_for_user(actor.org_id, actor.id)

    async def _own_channel(self, actor: User, channel_id: UUID) -> Channel:
        channel = await self.channels.get(actor.org_id, channel_id)
        if channel is None:
            raise NotFound("channel not found")
        if channel.user_id != actor.id:
            raise Forbidden("this channel belongs to someone else")
        return channel

    async def get_channel(self, actor: User, channel_id: UUID) -> Channel:
        return await self._own_channel(actor, channel_id)

    async def create_channel(
        self, actor: User, *, type: str, address: str, priority: int = 0, enabled: bool = True
    ) -> Channel:
        channel_type = ChannelType(type)
        address = _checked_address(channel_type, address)
        try:
            async with self.db.tenant(actor.org_id).transaction() as conn:
                channel = await self.channels.create(
                    actor.org_id,
                    actor.id,
                    type=channel_type.value,
                    address=address,
                    priority=priority,
                    enabled=enabled,
                    conn=conn,
                )
                await self._audit_channel(
                    conn, actor, "channel.created", channel.id, {"type": channel_type.value}
                )
        except asyncpg.UniqueViolationError as exc:
            raise Conflict("you already have this channel") from exc
        return channel

    async def _audit_channel(
        self, conn: Executor, actor: User, action: str, channel_id: UUID, details: dict[str, Any]
    ) -> None:
        await self.audit.record(
            conn,
            org_id=actor.org_id,
            actor=actor,
            action=action,
            target_type="channel",
            target_id=channel_id,
            details=details,
        )

    async def update_channel(
        self, actor: User, channel_id: UUID, changes: dict[str, Any]
    ) -> Channel:
        channel = await self._own_channel(actor, channel_id)
        changes = {k: v for k, v in changes.items() if k in {"address", "priority", "enabled"}}
        if any(changes.get(name, 0) is None for name in ("address", "priority", "enabled")):
            raise Unprocessable("address, priority and enabled cannot be null")
        if "address" in changes:
            changes["address"] = _checked_address(channel.type, changes["address"])
            if changes["address"] != channel.address:
                changes["verified"] = False
        try:
            async with self.db.tenant(actor.org_id).transaction() as conn:
                updated = await self.channels.update(actor.org_id, channel_id, changes, conn=conn)
                if updated is None:
                    raise NotFound("channel not found")
                await self._audit_channel(
                    conn, actor, "channel.updated", channel_id, {"fields": sorted(changes)}
                )
        except asyncpg.UniqueViolationError as exc:
            raise Conflict("you already have this channel") from exc
        return updated

    async def delete_channel(self, actor: User, channel_id: UUID) -> None:
        channel = await self._own_channel(actor, channel_id)
        async with self.db.tenant(actor.org_id).transaction() as conn:
            await self.channels.soft_delete(actor.org_id, channel_id, conn=conn)
            await self._audit_channel(
                conn, actor, "channel.deleted", channel_id, {"type": channel.type.value}
            )

    async def test_channel(self, actor: User, channel_id: UUID) -> DeliveryAttempt:
        """Send a test message right now (one try, logged); a delivered email counts as verified."""
        channel = await self._own_channel(actor, channel_id)
        tried = await self._attempt(
            channel,
            "Проверка уведомлений",
            "Это тестовое сообщение RuGPT Engine: канал работает.",
            attempt=1,
            notification_id=None,
            source="test",
        )
        if tried.status is AttemptStatus.SENT and channel.type is ChannelType.EMAIL:
            await self.channels.update(actor.org_id, channel_id, {"verified": True})
        entry = await self.attempts_log.get(actor.org_id, tried.log_id)
        if entry is None:  # only if the log row vanished under us
            raise NotFound("delivery attempt not found")
        return entry

    # -- reading -----------------------------------------------------------------------
    async def list_log(
        self,
        actor: User,
        *,
        whole_org: bool,
        user_id: UUID | None = None,
        notification_id: UUID | None = None,
        limit: int,
        offset: int,
    ) -> list[DeliveryAttempt]:
        """Your own delivery attempts; administrators may read the organization's."""
        if whole_org or (user_id is not None and user_id != actor.id):
            require_org_admin(actor)
        else:
            user_id = actor.id
        return await self.attempts_log.list_page(
            actor.org_id,
            user_id=user_id,
            notification_id=notification_id,
            limit=limit,
            offset=offset,
        )

    async def list_notifications(
        self, actor: User, *, limit: int, offset: int
    ) -> list[Notification]:
        return await self.outbox.list_for_user(actor.org_id, actor.id, limit=limit, offset=offset)

    async def get_notification(self, actor: User, notification_id: UUID) -> Notification:
        notification = await self.outbox.get(actor.org_id, notification_id)
        if notification is None:
            raise NotFound("notification not found")
        if notification.user_id != actor.id and not actor.is_org_admin:
            raise Forbidden("this notification is someone else's")
        return notification

    async def close(self) -> None:
        for sender in self.senders.values():
            await sender.close()


def _checked_address(channel_type: ChannelType, address: str) -> str:
    address = address.strip()
    if channel_type is ChannelType.EMAIL:
        try:
            return validate_email(address, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            raise Unprocessable(f"invalid email address: {exc}") from exc
    if not is_chat_address(address):
        raise Unprocessable("a Telegram address is a numeric chat id or an @channel name")
    return address
