from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from engine.models.chat import Chat, LastMessage, Message
from engine.schemas.base import WriteModel
from engine.schemas.common import LongText, ShortText


class ChatCreateIn(WriteModel):
    kind: Literal["direct", "group"] = "group"
    title: ShortText = ""
    member_ids: list[UUID] = Field(default_factory=list, max_length=500)


class ChatUpdateIn(WriteModel):
    title: ShortText


class MemberAddIn(WriteModel):
    user_id: UUID


class LastMessageOut(BaseModel):
    id: int
    kind: str
    author_id: UUID | None
    role_code: str | None
    content: str = Field(description=f"the first {LastMessage.PREVIEW_CHARS} characters")
    created_at: datetime


class ChatOut(BaseModel):
    id: UUID
    kind: str
    title: str
    created_by: UUID
    is_archived: bool
    member_ids: list[UUID]
    last_message_at: datetime | None
    created_at: datetime
    last_message: LastMessageOut | None = Field(description="the newest live message")
    unread_count: int = Field(description="live messages by others after the caller's read marker")
    last_read_message_id: int | None = Field(
        description="the caller's read marker (POST /chats/{id}/read)"
    )

    @classmethod
    def of(cls, chat: Chat) -> ChatOut:
        last = chat.last_message
        return cls(
            id=chat.id,
            kind=chat.kind.value,
            title=chat.title,
            created_by=chat.created_by,
            is_archived=chat.is_archived,
            member_ids=list(chat.member_ids),
            last_message_at=chat.last_message_at,
            created_at=chat.created_at,
            last_message=LastMessageOut.model_validate(last, from_attributes=True)
            if last
            else None,
            unread_count=chat.unread_count,
            last_read_message_id=chat.last_read_message_id,
        )


class ReadMarkIn(WriteModel):
    message_id: int = Field(ge=1, le=2**62)


class MessageIn(WriteModel):
    content: LongText = Field(min_length=1)
    reply_to_id: int | None = Field(None, ge=1, le=2**62)


class MessageEditIn(WriteModel):
    content: LongText = Field(min_length=1)


class MessageOut(BaseModel):
    id: int
    chat_id: UUID
    kind: str
    author_id: UUID | None
    role_code: str | None
    content: str
    reply_to_id: int | None
    ai_status: str | None
    ai_error: str | None
    ai_validated: bool
    needs_validation: bool = Field(description="an AI answer no human has validated yet")
    validation: str | None
    validated_by: UUID | None
    validated_at: datetime | None
    meta: dict[str, Any]
    is_edited: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, message: Message) -> MessageOut:
        return cls(
            id=message.id,
            chat_id=message.chat_id,
            kind=message.kind,
            author_id=message.author_id,
            role_code=message.role_code,
            content=message.content,
            reply_to_id=message.reply_to_id,
            ai_status=message.ai_status.value if message.ai_status else None,
            ai_error=message.ai_error,
            ai_validated=message.ai_validated,
            needs_validation=message.is_ai and not message.ai_validated,
            validation=message.validation,
            validated_by=message.validated_by,
            validated_at=message.validated_at,
            meta=message.meta,
            is_edited=message.is_edited,
            created_at=message.created_at,
            updated_at=message.updated_at,
        )


class UnresolvedMentionOut(BaseModel):
    text: str = Field(description="the mention as written, `@name` or `@@code`")
    kind: Literal["user", "role"]
    reason: Literal["unknown_user", "not_member", "unknown_role"]


class PostedMessageOut(BaseModel):
    message: MessageOut
    ai_message_ids: list[int]
    mentioned_user_ids: list[UUID]
    unresolved_mentions: list[UnresolvedMentionOut] = Field(
        description="mentions that reached nobody (the message is posted all the same)"
    )


class MessagePageOut(BaseModel):
    items: list[MessageOut]
    next_before_id: int | None = Field(
        description="pass as before_id for older messages; null when there are none"
    )
