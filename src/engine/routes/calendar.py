from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, status

from engine.models.calendar import NewEvent
from engine.routes.deps import CurrentUser, Engine, PageParams
from engine.schemas.calendar import (
    EventCreateIn,
    EventOut,
    EventRunOut,
    EventUpdateIn,
    OccurrenceOut,
    SchedulePreviewIn,
    SchedulePreviewOut,
)
from engine.services.calendar.calendar_service import MAX_OCCURRENCES_PER_QUERY

router = APIRouter(prefix="/calendar", tags=["calendar"])


@router.post("/events", response_model=EventOut, status_code=status.HTTP_201_CREATED)
async def create_event(body: EventCreateIn, user: CurrentUser, engine: Engine) -> EventOut:
    event = await engine.calendar.create_event(user, NewEvent(**body.model_dump()))
    return EventOut.model_validate(event)


@router.post("/preview", response_model=SchedulePreviewOut)
async def preview_schedule(
    body: SchedulePreviewIn, user: CurrentUser, engine: Engine
) -> SchedulePreviewOut:
    """The next occurrences from now of a schedule, before saving the event; an unusable
    cron or time zone is a 422."""
    fields = body.model_dump(exclude={"count"})
    occurrences = await engine.calendar.preview(user, NewEvent(title="", **fields), body.count)
    return SchedulePreviewOut(occurrences=occurrences)


@router.get("/events", response_model=list[EventOut])
async def list_events(user: CurrentUser, engine: Engine, page: PageParams) -> list[EventOut]:
    events = await engine.calendar.list_events(user, limit=page.limit, offset=page.offset)
    return [EventOut.model_validate(e) for e in events]


@router.get("/events/{event_id}", response_model=EventOut)
async def get_event(event_id: UUID, user: CurrentUser, engine: Engine) -> EventOut:
    return EventOut.model_validate(await engine.calendar.get_event(user, event_id))


@router.patch("/events/{event_id}", response_model=EventOut)
async def update_event(
    event_id: UUID, body: EventUpdateIn, user: CurrentUser, engine: Engine
) -> EventOut:
    changes = body.model_dump(exclude_unset=True)
    return EventOut.model_validate(await engine.calendar.update_event(user, event_id, changes))


@router.delete("/events/{event_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_event(event_id: UUID, user: CurrentUser, engine: Engine) -> None:
    await engine.calendar.delete_event(user, event_id)


@router.get("/events/{event_id}/runs", response_model=list[EventRunOut])
async def list_event_runs(
    event_id: UUID, user: CurrentUser, engine: Engine, page: PageParams
) -> list[EventRunOut]:
    runs = await engine.calendar.list_runs(user, event_id, limit=page.limit, offset=page.offset)
    return [EventRunOut.model_validate(r) for r in runs]


@router.get("/occurrences", response_model=list[OccurrenceOut])
async def list_occurrences(
    user: CurrentUser,
    engine: Engine,
    start: datetime,
    end: datetime,
    limit: Annotated[int, Query(ge=1, le=MAX_OCCURRENCES_PER_QUERY)] = 200,
) -> list[OccurrenceOut]:
    """Occurrences of your events overlapping [start, end); naive times are UTC."""
    occurrences = await engine.calendar.list_occurrences(user, start, end, limit=limit)
    return [OccurrenceOut.model_validate(o) for o in occurrences]
