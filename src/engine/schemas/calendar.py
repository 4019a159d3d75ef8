from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field

from engine.schemas.base import ReadModel, WriteModel
from engine.schemas.common import LongText, ShortText

Title = Annotated[ShortText, Field(min_length=1)]
CronText = Annotated[str, Field(max_length=200)]
ZoneName = Annotated[str, Field(min_length=1, max_length=64)]
RoleCode = Annotated[str, Field(max_length=64, pattern=r"^[a-z0-9_\-]+$")]
Participants = Annotated[list[UUID], Field(max_length=200)]


class EventCreateIn(WriteModel):
    """Naive datetimes are read in `timezone`."""

    title: Title
    description: LongText = ""
    starts_at: datetime
    ends_at: datetime | None = None
    kind: Literal["one_time", "recurring"] = "one_time"
    cron: CronText | None = None
    timezone: ZoneName = "UTC"
    until_at: datetime | None = None
    max_occurrences: int | None = Field(None, ge=1, le=10_000)
    remind_before_minutes: int = Field(0, ge=0, le=43_200)
    role_code: RoleCode | None = None
    prompt: LongText | None = None
    participants: Participants = []
    missed_policy: Literal["latest", "skip"] = "latest"
    is_active: bool = True


class SchedulePreviewIn(WriteModel):
    """The schedule fields of an event; naive datetimes are read in `timezone`."""

    starts_at: datetime
    kind: Literal["one_time", "recurring"] = "one_time"
    cron: CronText | None = None
    timezone: ZoneName = "UTC"
    until_at: datetime | None = None
    max_occurrences: int | None = Field(None, ge=1, le=10_000)
    remind_before_minutes: int = Field(0, ge=0, le=43_200)
    count: int = Field(5, ge=1, le=50, description="how many occurrences to list")


class SchedulePreviewOut(ReadModel):
    occurrences: list[datetime] = Field(description="the next occurrence starts from now, UTC")


class EventUpdateIn(WriteModel):
    title: Title | None = None
    description: LongText | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    kind: Literal["one_time", "recurring"] | None = None
    cron: CronText | None = None
    timezone: ZoneName | None = None
    until_at: datetime | None = None
    max_occurrences: int | None = Field(None, ge=1, le=10_000)
    remind_before_minutes: int | None = Field(None, ge=0, le=43_200)
    role_code: RoleCode | None = None
    prompt: LongText | None = None
    participants: Participants | None = None
    missed_policy: Literal["latest", "skip"] | None = None
    is_active: bool | None = None


class EventOut(ReadModel):
    id: UUID
    org_id: UUID
    owner_id: UUID
    title: str
    description: str
    starts_at: datetime
    ends_at: datetime | None
    kind: str
    cron: str | None
    timezone: str
    until_at: datetime | None
    max_occurrences: int | None
    remind_before_minutes: int
    role_code: str | None
    prompt: str | None
    participants: list[UUID]
    missed_policy: str
    is_active: bool
    series_end_at: datetime | None
    next_occurrence_at: datetime | None
    next_run_at: datetime | None
    created_at: datetime
    updated_at: datetime


class OccurrenceOut(ReadModel):
    event_id: UUID
    title: str
    starts_at: datetime
    ends_at: datetime | None
    description: str
    kind: str
    timezone: str
    owner_id: UUID
    role_code: str | None


class EventRunOut(ReadModel):
    id: UUID
    event_id: UUID
    occurrence_at: datetime
    status: str
    attempt: int
    agent_status: str | None
    agent_result: str | None
    agent_error: str | None
    error: str | None
    notified: int
    created_at: datetime
    finished_at: datetime | None
