"""Notification channels, the outbox and the log of delivery attempts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID


class ChannelType(StrEnum):
    TELEGRAM = "telegram"
    EMAIL = "email"


class NotificationStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class AttemptStatus(StrEnum):
    SENDING = "sending"
    SENT = "sent"
    TRANSIENT_ERROR = "transient_error"
    PERMANENT_ERROR = "permanent_error"


@dataclass(frozen=True, slots=True)
class Channel:
    id: UUID
    org_id: UUID
    user_id: UUID
    type: ChannelType
    address: str
    priority: int
    enabled: bool
    verified: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> Channel:
        return cls(
            id=row["id"],
            org_id=row["org_id"],
            user_id=row["user_id"],
            type=ChannelType(row["type"]),
            address=row["address"],
            priority=row["priority"],
            enabled=row["enabled"],
            verified=row["verified"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


@dataclass(frozen=True, slots=True)
class Notification:
    id: UUID
    org_id: UUID
    user_id: UUID
    subject: str
    body: str
    all_channels: bool
    source: str
    status: NotificationStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> Notification:
        return cls(
            id=row["id"],
            org_id=row["org_id"],
            user_id=row["user_id"],
            subject=row["subject"],
            body=row["body"],
            all_channels=row["all_channels"],
            source=row["source"],
            status=NotificationStatus(row["status"]),
            attempts=row["attempts"],
            next_attempt_at=row["next_attempt_at"],
            last_error=row["last_error"],
            created_at=row["created_at"],
            finished_at=row["finished_at"],
        )


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    """One row of notification_log: one try on one channel."""

    id: int
    org_id: UUID
    user_id: UUID | None
    notification_id: UUID | None
    channel_id: UUID | None
    channel_type: str | None
    address: str | None
    status: str
    error: str | None
    attempt: int
    source: str | None
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> DeliveryAttempt:
        return cls(
            id=row["id"],
            org_id=row["org_id"],
            user_id=row["user_id"],
            notification_id=row["notification_id"],
            channel_id=row["channel_id"],
            channel_type=row["channel_type"],
            address=row["address"],
            status=row["status"],
            error=row["error"],
            attempt=row["attempt"],
            source=row["source"],
            created_at=row["created_at"],
            finished_at=row["finished_at"],
        )


@dataclass(frozen=True, slots=True)
class LinkToken:
    """A one-time token for `/start <token>`; only its hash is stored."""

    token: str
    expires_at: datetime
    deep_link: str | None


@dataclass(frozen=True, slots=True)
class TelegramLink:
    """Who a Telegram chat belongs to."""

    org_id: UUID
    user_id: UUID
    channel_id: UUID
