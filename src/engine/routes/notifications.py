from __future__ import annotations

import logging
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Header, Query, Request, status

from engine.routes.deps import CurrentUser, Engine, PageParams
from engine.schemas.notifications import (
    ChannelCreateIn,
    ChannelOut,
    ChannelUpdateIn,
    DeliveryAttemptOut,
    LinkTokenOut,
    NotificationOut,
    WebhookAck,
)

log = logging.getLogger(__name__)

router = APIRouter(prefix="/notifications", tags=["notifications"])

MAX_UPDATE_BYTES = 1_000_000


@router.get("/channels", response_model=list[ChannelOut])
async def list_channels(user: CurrentUser, engine: Engine) -> list[ChannelOut]:
    return [ChannelOut.model_validate(c) for c in await engine.notifications.list_channels(user)]


@router.post("/channels", response_model=ChannelOut, status_code=status.HTTP_201_CREATED)
async def create_channel(body: ChannelCreateIn, user: CurrentUser, engine: Engine) -> ChannelOut:
    channel = await engine.notifications.create_channel(
        user, type=body.type, address=body.address, priority=body.priority, enabled=body.enabled
    )
    return ChannelOut.model_validate(channel)


@router.get("/channels/{channel_id}", response_model=ChannelOut)
async def get_channel(channel_id: UUID, user: CurrentUser, engine: Engine) -> ChannelOut:
    return ChannelOut.model_validate(await engine.notifications.get_channel(user, channel_id))


@router.patch("/channels/{channel_id}", response_model=ChannelOut)
async def update_channel(
    channel_id: UUID, body: ChannelUpdateIn, user: CurrentUser, engine: Engine
) -> ChannelOut:
    changes = body.model_dump(exclude_unset=True)
    channel = await engine.notifications.update_channel(user, channel_id, changes)
    return ChannelOut.model_validate(channel)


@router.delete("/channels/{channel_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_channel(channel_id: UUID, user: CurrentUser, engine: Engine) -> None:
    await engine.notifications.delete_channel(user, channel_id)


@router.post("/channels/{channel_id}/test", response_model=DeliveryAttemptOut)
async def test_channel(channel_id: UUID, user: CurrentUser, engine: Engine) -> DeliveryAttemptOut:
    """Send a test message now; the answer is the logged attempt (sent, or why not)."""
    attempt = await engine.notifications.test_channel(user, channel_id)
    return DeliveryAttemptOut.model_validate(attempt)


@router.get("/log", response_model=list[DeliveryAttemptOut])
async def read_log(
    user: CurrentUser,
    engine: Engine,
    page: PageParams,
    scope: Literal["own", "org"] = "own",
    user_id: Annotated[UUID | None, Query()] = None,
    notification_id: Annotated[UUID | None, Query()] = None,
) -> list[DeliveryAttemptOut]:
    """Your delivery attempts; administrators: `scope=org` or `user_id` for others'."""
    entries = await engine.notifications.list_log(
        user,
        whole_org=scope == "org",
        user_id=user_id,
        notification_id=notification_id,
        limit=page.limit,
        offset=page.offset,
    )
    return [DeliveryAttemptOut.model_validate(e) for e in entries]


@router.post(
    "/telegram/link-token", response_model=LinkTokenOut, status_code=status.HTTP_201_CREATED
)
async def create_telegram_link_token(user: CurrentUser, engine: Engine) -> LinkTokenOut:
    """A one-time token: open `deep_link` (or send `/start <token>` to the bot) to link a chat."""
    link = await engine.telegram.create_link_token(user)
    return LinkTokenOut(
        token=link.token,
        expires_at=link.expires_at,
        deep_link=link.deep_link,
        start_command=f"/start {link.token}",
    )


@router.post("/telegram/webhook", response_model=WebhookAck)
async def telegram_webhook(
    request: Request,
    engine: Engine,
    secret: Annotated[str | None, Header(alias="X-Telegram-Bot-Api-Secret-Token")] = None,
) -> WebhookAck:
    """Telegram's webhook: answered at once; anything malformed is acknowledged and dropped."""
    engine.telegram.check_secret(secret)
    payload = await request.body()
    if len(payload) > MAX_UPDATE_BYTES:
        log.warning("ignoring a Telegram update of %d bytes", len(payload))
        return WebhookAck()
    await engine.telegram.accept(payload)
    return WebhookAck()


@router.get("", response_model=list[NotificationOut])
async def list_notifications(
    user: CurrentUser, engine: Engine, page: PageParams
) -> list[NotificationOut]:
    notifications = await engine.notifications.list_notifications(
        user, limit=page.limit, offset=page.offset
    )
    return [NotificationOut.model_validate(n) for n in notifications]


@router.get("/{notification_id}", response_model=NotificationOut)
async def get_notification(
    notification_id: UUID, user: CurrentUser, engine: Engine
) -> NotificationOut:
    return NotificationOut.model_validate(
        await engine.notifications.get_notification(user, notification_id)
    )
