"""The shared AI work queue and the fleet of model servers it hands slots of."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, StrEnum
from uuid import UUID


class JobKind(StrEnum):
    CHAT = "chat"  # an AI answer in a chat: any worker process runs it
    TICKET = "ticket"  # a proactive run's claim on a slot: its owner process runs it


class Priority(IntEnum):
    """Lower goes first. A proactive run that waited `AI_PROACTIVE_AGING_SECONDS` counts
    as a person waiting."""

    PERSON_WAITING = 0  # a chat answer, a Telegram question
    PROACTIVE = 1  # a calendar firing's agent run


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    id: int
    org_id: UUID
    user_id: UUID | None
    kind: JobKind
    message_id: int | None
    backend: str
    attempts: int


@dataclass(frozen=True, slots=True)
class Claim:
    """A claim's outcome. `more_waiting`: anything else waited then (a chat answer, a
    ticket, an answer moving off a failed server). `slot_left`: a slot of a healthy server
    was still free after it, which this claimer did not take (it is another process's
    ticket's or moving answer's turn)."""

    job: ClaimedJob | None
    more_waiting: bool
    slot_left: bool


@dataclass(frozen=True, slots=True)
class BackendState:
    """A model server as every process sees it (the database's record of it)."""

    name: str
    provider: str
    base_url: str
    model: str
    capacity: int
    weight: float
    slots_in_use: int
    ejected_until: datetime | None
    consecutive_failures: int
    last_error: str | None
    ejected: bool

    @property
    def state(self) -> str:
        return "ejected" if self.ejected else "healthy"
