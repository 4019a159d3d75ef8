"""Calendar events, their occurrences and the record of each firing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID


class EventKind(StrEnum):
    ONE_TIME = "one_time"
    RECURRING = "recurring"


class MissedPolicy(StrEnum):
    """What the scheduler does with occurrences that came due while no engine was running."""

    LATEST = "latest"  # fire once, for the latest missed occurrence
    SKIP = "skip"  # fire nothing that is older than the grace period


class RunStatus(StrEnum):
    RUNNING = "running"
    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class NewEvent:
    """What a caller supplies to create an event (also the merged state when editing one).

    Naive datetimes are read in `timezone`.
    """

    title: str
    starts_at: datetime
    description: str = ""
    ends_at: datetime | None = None
    kind: EventKind | str = EventKind.ONE_TIME
    cron: str | None = None
    timezone: str = "UTC"
    until_at: datetime | None = None
    max_occurrences: int | None = None
    remind_before_minutes: int = 0
    role_code: str | None = None
    prompt: str | None = None
    participants: list[UUID] = field(default_factory=list)
    missed_policy: MissedPolicy | str = MissedPolicy.LATEST
    is_active: bool = True


@dataclass(frozen=True, slots=True)
class CalendarEvent:
    id: UUID
    org_id: UUID
    owner_id: UUID
    title: str
    description: str
    starts_at: datetime
    ends_at: datetime | None
    kind: EventKind
    cron: str | None
    timezone: str
    until_at: datetime | None
    max_occurrences: int | None
    remind_before_minutes: int
    role_code: str | None
    prompt: str | None
    participants: list[UUID]
    missed_policy: MissedPolicy
    is_active: bool
    series_end_at: datetime | None
    next_occurrence_at: datetime | None
    next_run_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @property
    def recipients(self) -> list[UUID]:
        """Owner first, then participants, each once."""
        return list(dict.fromkeys([self.owner_id, *self.participants]))

    @classmethod
    def from_row(cls, row: Any) -> CalendarEvent:
        return cls(
            id=row["id"],
            org_id=row["org_id"],
            owner_id=row["owner_id"],
            title=row["title"],
            description=row["description"],
            starts_at=row["starts_at"],
            ends_at=row["ends_at"],
            kind=EventKind(row["kind"]),
            cron=row["cron"],
            timezone=row["timezone"],
            until_at=row["until_at"],
            max_occurrences=row["max_occurrences"],
            remind_before_minutes=row["remind_before_minutes"],
            role_code=row["role_code"],
            prompt=row["prompt"],
            participants=list(row["participants"]),
            missed_policy=MissedPolicy(row["missed_policy"]),
            is_active=row["is_active"],
            series_end_at=row["series_end_at"],
            next_occurrence_at=row["next_occurrence_at"],
            next_run_at=row["next_run_at"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One concrete instance of an event in time (a recurring event expanded)."""

    event_id: UUID
    title: str
    starts_at: datetime
    ends_at: datetime | None
    description: str
    kind: EventKind
    timezone: str
    owner_id: UUID
    role_code: str | None


@dataclass(frozen=True, slots=True)
class EventRun:
    """The record of one firing: which occurrence, how it went, what the agent said."""

    id: UUID
    org_id: UUID
    event_id: UUID
    occurrence_at: datetime
    status: RunStatus
    attempt: int
    agent_status: str | None
    agent_result: str | None
    agent_error: str | None
    error: str | None
    notified: int
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> EventRun:
        return cls(
            id=row["id"],
            org_id=row["org_id"],
            event_id=row["event_id"],
            occurrence_at=row["occurrence_at"],
            status=RunStatus(row["status"]),
            attempt=row["attempt"],
            agent_status=row["agent_status"],
            agent_result=row["agent_result"],
            agent_error=row["agent_error"],
            error=row["error"],
            notified=row["notified"],
            created_at=row["created_at"],
            finished_at=row["finished_at"],
        )


@dataclass(frozen=True, slots=True)
class AgentRunOutcome:
    """What a proactive agent run produced: its answer, or why there is none."""

    text: str | None
    error: str | None = None
