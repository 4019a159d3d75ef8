from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field

from engine.schemas.base import ReadModel, WriteModel

Address = Annotated[str, Field(min_length=1, max_length=320)]
Priority = Annotated[int, Field(ge=-1000, le=1000)]


class ChannelCreateIn(WriteModel):
    """`address` is an email address, or a Telegram chat id (linked chats come from /start)."""

    type: Literal["telegram", "email"]
    address: Address
    priority: Priority = 0
    enabled: bool = True


class ChannelUpdateIn(WriteModel):
    address: Address | None = None
    priority: Priority | None = None
    enabled: bool | None = None


class ChannelOut(ReadModel):
    id: UUID
    user_id: UUID
    type: str
    address: str
    priority: int
    enabled: bool
    verified: bool
    created_at: datetime
    updated_at: datetime


class DeliveryAttemptOut(ReadModel):
    id: int
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


class NotificationOut(ReadModel):
    id: UUID
    user_id: UUID
    subject: str
    body: str
    all_channels: bool
    source: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None


class LinkTokenOut(ReadModel):
    token: str
    expires_at: datetime
    deep_link: str | None
    start_command: str


class WebhookAck(ReadModel):
    ok: bool = True
