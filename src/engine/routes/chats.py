from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, Query, Request, Response, status
from sse_starlette.sse import EventSourceResponse

from engine.models.chat import ChatKind
from engine.routes.deps import (
    MAX_PAGE_SIZE,
    CurrentSession,
    CurrentUser,
    Engine,
    PageParams,
    TokenCaller,
)
from engine.schemas.chats import (
    ChatCreateIn,
    ChatOut,
    ChatUpdateIn,
    MemberAddIn,
    MessageEditIn,
    MessageIn,
    MessageOut,
    MessagePageOut,
    PostedMessageOut,
    ReadMarkIn,
    UnresolvedMentionOut,
)
from engine.schemas.proposals import ProposalOut
from engine.services.chats.chat_stream import PING_SECONDS, StreamGrant
from engine.services.chats.events import ChatEvent

router = APIRouter(prefix="/chats", tags=["chats"])

MessageId = Annotated[int, Query(ge=1, le=2**62)]
SSE_EVENT_SCHEMA: dict[str, Any] = {
    "description": "one server-sent event; `data` is JSON (a MessageOut for message events)",
    "type": "object",
    "required": ["data"],
    "properties": {
        "event": {"type": "string"},
        "data": {"type": "string"},
        "id": {"type": "string"},
    },
}


@router.post("", response_model=ChatOut, status_code=status.HTTP_201_CREATED)
async def create_chat(
    body: ChatCreateIn, user: CurrentUser, engine: Engine, response: Response
) -> ChatOut:
    chat, created = await engine.chats.create(
        user, kind=ChatKind(body.kind), title=body.title, member_ids=body.member_ids
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return ChatOut.of(chat)


@router.get("", response_model=list[ChatOut])
async def list_chats(
    user: CurrentUser, engine: Engine, page: PageParams, include_archived: bool = False
) -> list[ChatOut]:
    chats = await engine.chats.list_mine(
        user, include_archived=include_archived, limit=page.limit, offset=page.offset
    )
    return [ChatOut.of(c) for c in chats]


@router.get("/{chat_id}", response_model=ChatOut)
async def get_chat(chat_id: UUID, user: CurrentUser, engine: Engine) -> ChatOut:
    return ChatOut.of(await engine.chats.get(user, chat_id))


@router.patch("/{chat_id}", response_model=ChatOut)
async def rename_chat(
    chat_id: UUID, body: ChatUpdateIn, user: CurrentUser, engine: Engine
) -> ChatOut:
    return ChatOut.of(await engine.chats.rename(user, chat_id, body.title))


@router.delete("/{chat_id}", status_code=status.HTTP_204_NO_CONTENT)
async def archive_chat(chat_id: UUID, user: CurrentUser, engine: Engine) -> None:
    await engine.chats.set_archived(user, chat_id, True)


@router.post("/{chat_id}/unarchive", response_model=ChatOut)
async def unarchive_chat(chat_id: UUID, user: CurrentUser, engine: Engine) -> ChatOut:
    return ChatOut.of(await engine.chats.set_archived(user, chat_id, False))


@router.post("/{chat_id}/members", response_model=ChatOut)
async def add_member(
    chat_id: UUID, body: MemberAddIn, user: CurrentUser, engine: Engine
) -> ChatOut:
    return ChatOut.of(await engine.chats.add_member(user, chat_id, body.user_id))


@router.delete("/{chat_id}/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_member(chat_id: UUID, user_id: UUID, user: CurrentUser, engine: Engine) -> None:
    await engine.chats.remove_member(user, chat_id, user_id)


@router.post("/{chat_id}/read", status_code=status.HTTP_204_NO_CONTENT)
async def mark_read(chat_id: UUID, body: ReadMarkIn, user: CurrentUser, engine: Engine) -> None:
    """Move your read marker forward to `message_id` (never back); unread counts follow it."""
    await engine.chats.mark_read(user, chat_id, body.message_id)


@router.post(
    "/{chat_id}/messages", response_model=PostedMessageOut, status_code=status.HTTP_201_CREATED
)
async def post_message(
    chat_id: UUID, body: MessageIn, caller: TokenCaller, engine: Engine
) -> PostedMessageOut:
    """Save a message. `@@role` mentions queue AI answers (ids returned at once, produced in
    the background); `@username` mentions notify members."""
    posted = await engine.messages.post_as(caller, chat_id, body.content, body.reply_to_id)
    return PostedMessageOut(
        message=MessageOut.of(posted.message),
        ai_message_ids=[m.id for m in posted.ai_messages],
        mentioned_user_ids=posted.mentioned_user_ids,
        unresolved_mentions=[
            UnresolvedMentionOut.model_validate(m, from_attributes=True)
            for m in posted.unresolved_mentions
        ],
    )


@router.get("/{chat_id}/messages", response_model=MessagePageOut)
async def list_messages(
    chat_id: UUID,
    caller: TokenCaller,
    engine: Engine,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    before_id: MessageId | None = None,
    after_id: Annotated[int | None, Query(ge=0, le=2**62)] = None,
) -> MessagePageOut:
    """Newest first (older pages with `before_id`), or oldest first since `after_id`."""
    items = await engine.messages.list_page_as(
        caller, chat_id, limit=limit, before_id=before_id, after_id=after_id
    )
    next_before = items[-1].id if after_id is None and len(items) == limit else None
    return MessagePageOut(items=[MessageOut.of(m) for m in items], next_before_id=next_before)


@router.get("/{chat_id}/messages/{message_id}", response_model=MessageOut)
async def get_message(
    chat_id: UUID, message_id: int, user: CurrentUser, engine: Engine
) -> MessageOut:
    return MessageOut.of(await engine.messages.get(user, chat_id, message_id))


@router.patch("/{chat_id}/messages/{message_id}", response_model=MessageOut)
async def edit_message(
    chat_id: UUID, message_id: int, body: MessageEditIn, user: CurrentUser, engine: Engine
) -> MessageOut:
    return MessageOut.of(await engine.messages.edit(user, chat_id, message_id, body.content))


@router.delete("/{chat_id}/messages/{message_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_message(chat_id: UUID, message_id: int, user: CurrentUser, engine: Engine) -> None:
    await engine.messages.delete(user, chat_id, message_id)


@router.post("/{chat_id}/messages/{message_id}/validate", response_model=MessageOut)
async def validate_message(
    chat_id: UUID, message_id: int, user: CurrentUser, engine: Engine
) -> MessageOut:
    message = await engine.messages.set_validation(user, chat_id, message_id, validated=True)
    return MessageOut.of(message)


@router.post("/{chat_id}/messages/{message_id}/reject", response_model=MessageOut)
async def reject_message(
    chat_id: UUID, message_id: int, user: CurrentUser, engine: Engine
) -> MessageOut:
    message = await engine.messages.set_validation(user, chat_id, message_id, validated=False)
    return MessageOut.of(message)


@router.get("/{chat_id}/messages/{message_id}/proposals", response_model=list[ProposalOut])
async def list_message_proposals(
    chat_id: UUID, message_id: int, user: CurrentUser, engine: Engine
) -> list[ProposalOut]:
    """Writes the AI answer's tools proposed (pending until a member approves them)."""
    return await engine.proposals.list_for_message(user, chat_id, message_id)


@router.post("/{chat_id}/proposals/{proposal_id}/approve", response_model=ProposalOut)
async def approve_proposal(
    chat_id: UUID, proposal_id: UUID, user: CurrentUser, engine: Engine
) -> ProposalOut:
    return await engine.proposals.approve(user, proposal_id, chat_id=chat_id)


@router.post("/{chat_id}/proposals/{proposal_id}/reject", response_model=ProposalOut)
async def reject_proposal(
    chat_id: UUID, proposal_id: UUID, user: CurrentUser, engine: Engine
) -> ProposalOut:
    return await engine.proposals.reject(user, proposal_id, chat_id=chat_id)


def _encode(event: ChatEvent) -> str:
    """One event in the wire format of `sse_starlette.ServerSentEvent.encode` (its default
    separator). Written by hand: `json.dumps` escapes every line break and non-ASCII
    character, so `data` is a single line and needs none of the encoder's splitting."""
    if event.message is not None:
        payload: Any = MessageOut.of(event.message).model_dump(mode="json")
        return (
            f"id: {event.message.id}\r\nevent: {event.type.value}\r\n"
            f"data: {json.dumps(payload)}\r\n\r\n"
        )
    return f"event: {event.type.value}\r\ndata: {json.dumps(event.data, default=str)}\r\n\r\n"


def _is_message_id(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 18


@router.get(
    "/{chat_id}/events",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {"schema": SSE_EVENT_SCHEMA}}}},
)
async def chat_events(
    chat_id: UUID,
    request: Request,
    session: CurrentSession,
    engine: Engine,
    after_id: Annotated[int | None, Query(ge=0, le=2**62)] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> EventSourceResponse:
    """Server-Sent Events of the chat (docs/api.md lists every event type). Missed messages
    since `after_id` (or the `Last-Event-ID` header) are replayed first. The stream ends with
    `access.revoked` when the caller loses access or the access token expires."""
    user, claims = session
    await engine.chats.require_member(user, chat_id)
    if after_id is None and last_event_id and _is_message_id(last_event_id):
        after_id = int(last_event_id)
    grant = StreamGrant(user, chat_id, claims.session_id, claims.expires_at.timestamp())
    events = engine.streams.events(
        grant, after_id=after_id, is_disconnected=request.is_disconnected
    )

    async def stream() -> AsyncIterator[bytes]:
        async with aclosing(events):  # unsubscribes at once however the response ends
            async for batch in events:  # the events already waiting: one write
                yield "".join([_encode(event) for event in batch]).encode()

    return EventSourceResponse(stream(), ping=PING_SECONDS, headers={"X-Accel-Buffering": "no"})
