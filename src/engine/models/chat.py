from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID


class ChatKind(StrEnum):
    DIRECT = "direct"
    GROUP = "group"


class AIStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class LastMessage:
    """The start of a chat's newest live message, for chat lists."""

    PREVIEW_CHARS = 200

    id: int
    kind: str
    author_id: UUID | None
    role_code: str | None
    content: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Chat:
    id: UUID
    org_id: UUID
    kind: ChatKind
    title: str
    created_by: UUID
    is_archived: bool
    last_message_at: datetime | None
    created_at: datetime
    updated_at: datetime
    member_ids: tuple[UUID, ...] = ()
    # the reader's view (chat lists and single reads): absent from membership checks
    last_message: LastMessage | None = None
    unread_count: int = 0
    last_read_message_id: int | None = None

    @classmethod
    def from_row(cls, row: Any) -> Chat:
        has_view = "unread_count" in row
        last_message = None
        if has_view and row["lm_id"] is not None:
            last_message = LastMessage(
                id=row["lm_id"],
                kind=row["lm_kind"],
                author_id=row["lm_author_id"],
                role_code=row["lm_role_code"],
                content=row["lm_content"],
                created_at=row["lm_created_at"],
            )
        return cls(
            id=row["id"],
            org_id=row["org_id"],
            kind=ChatKind(row["kind"]),
            title=row["title"],
            created_by=row["created_by"],
            is_archived=row["is_archived"],
            last_message_at=row["last_message_at"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            member_ids=tuple(row["member_ids"] or ()) if "member_ids" in row else (),
            last_message=last_message,
            unread_count=row["unread_count"] if has_view else 0,
            last_read_message_id=row["last_read_message_id"] if has_view else None,
        )


@dataclass(frozen=True, slots=True)
class Message:
    id: int
    org_id: UUID
    chat_id: UUID
    author_id: UUID | None
    role_code: str | None
    kind: str
    content: str
    reply_to_id: int | None
    ai_status: AIStatus | None
    ai_error: str | None
    ai_validated: bool
    validation: str | None
    validated_by: UUID | None
    validated_at: datetime | None
    meta: dict[str, Any]
    is_edited: bool
    is_deleted: bool
    created_at: datetime
    updated_at: datetime

    @property
    def is_ai(self) -> bool:
        return self.kind == "ai"

    @classmethod
    def from_row(cls, row: Any) -> Message:
        return cls(
            id=row["id"],
            org_id=row["org_id"],
            chat_id=row["chat_id"],
            author_id=row["author_id"],
            role_code=row["role_code"],
            kind=row["kind"],
            content=row["content"],
            reply_to_id=row["reply_to_id"],
            ai_status=AIStatus(row["ai_status"]) if row["ai_status"] else None,
            ai_error=row["ai_error"],
            ai_validated=row["ai_validated"],
            validation=row["validation"],
            validated_by=row["validated_by"],
            validated_at=row["validated_at"],
            meta=dict(row["meta"] or {}),
            is_edited=row["is_edited"],
            is_deleted=row["is_deleted"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


@dataclass(frozen=True, slots=True)
class UnresolvedMention:
    """A mention that reached nobody: `@name` of no member, `@@code` of no active role."""

    text: str
    kind: str  # "user" | "role"
    reason: str  # "unknown_user" | "not_member" | "unknown_role"


@dataclass(frozen=True, slots=True)
class PostedMessage:
    """A human message as accepted, with the AI answers it queued."""

    message: Message
    ai_messages: list[Message] = field(default_factory=list)
    mentioned_user_ids: list[UUID] = field(default_factory=list)
    unresolved_mentions: list[UnresolvedMention] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class AIJob:
    """An AI answer to produce: the placeholder message and what it answers."""

    message_id: int
    org_id: UUID
    chat_id: UUID
    role_code: str
    request_message_id: int | None
    requested_by: UUID | None
    attempts: int
