"""Calendar events of an organization: validation, visibility, expansion into occurrences.

Also the entry point of the AI agents' `calendar` tool, which calls `create_event`,
`get_event` and `list_occurrences` with the chat user as actor.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections.abc import Iterator
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from engine.errors import Forbidden, NotFound, Unprocessable
from engine.models.calendar import (
    CalendarEvent,
    EventKind,
    EventRun,
    MissedPolicy,
    NewEvent,
    Occurrence,
)
from engine.models.user import User
from engine.services.audit_service import AuditTrail
from engine.services.calendar.recurrence import Schedule, ScheduleError, aware, parse_zone
from engine.storage.calendar import CalendarRunStorage, CalendarStorage
from engine.storage.postgres.clock import DatabaseClock
from engine.storage.postgres.database import Database, Executor
from engine.storage.roles import RoleStorage
from engine.storage.users import UserStorage

log = logging.getLogger(__name__)

MAX_TITLE = 200
MAX_TEXT = 20_000
MAX_REMIND_MINUTES = 30 * 24 * 60
MAX_PARTICIPANTS = 200
MAX_OCCURRENCES_PER_QUERY = 1000
MAX_EVENTS_PER_QUERY = 5000
# Times outside these years are refused: near datetime's limits (years 1 and 9999) the
# schedule arithmetic (time zones, DST margins, reminders) overflows.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)
# Fields whose change moves the next firing; other edits leave a due firing where it is.
_SCHEDULE_FIELDS = frozenset(
    {
        "starts_at",
        "kind",
        "cron",
        "timezone",
        "until_at",
        "max_occurrences",
        "remind_before_minutes",
        "is_active",
    }
)
_NOT_NULL = frozenset(
    {
        "title",
        "description",
        "starts_at",
        "kind",
        "timezone",
        "remind_before_minutes",
        "participants",
        "missed_policy",
        "is_active",
    }
)


def next_firing(
    schedule: Schedule, remind_before_minutes: int, now: datetime
) -> tuple[datetime | None, datetime | None]:
    """(next occurrence starting now or later, when to fire it: its reminder, not before now)."""
    occurrence = schedule.first_at_or_after(now)
    if occurrence is None:
        return None, None
    return occurrence, max(occurrence - timedelta(minutes=remind_before_minutes), now)


def _unless_paused(values: dict[str, Any], run_at: datetime | None) -> datetime | None:
    """A paused event has no next firing; resuming computes it again from that moment."""
    return run_at if values["is_active"] else None


class CalendarService:
    def __init__(
        self,
        db: Database,
        events: CalendarStorage,
        runs: CalendarRunStorage,
        users: UserStorage,
        roles: RoleStorage,
        clock: DatabaseClock,
        audit: AuditTrail,
    ) -> None:
        self.db = db
        self.audit = audit
        self.events = events
        self.runs = runs
        self.users = users
        self.roles = roles
        self.clock = clock

    # -- reading -----------------------------------------------------------------------
    async def _visible(
        self, actor: User, event_id: UUID, *, for_update: bool = False, conn: Executor | None = None
    ) -> CalendarEvent:
        event = await self.events.get(actor.org_id, event_id, for_update=for_update, conn=conn)
        if event is None:
            raise NotFound("event not found")
        if not (actor.is_org_admin or actor.id == event.owner_id or actor.id in event.participants):
            raise Forbidden("this event belongs to someone else")
        return event

    async def get_event(self, actor: User, event_id: UUID) -> CalendarEvent:
        return await self._visible(actor, event_id)

    async def list_events(self, actor: User, *, limit: int, offset: int) -> list[CalendarEvent]:
        return await self.events.list_for_user(actor.org_id, actor.id, limit=limit, offset=offset)

    async def list_runs(
        self, actor: User, event_id: UUID, *, limit: int, offset: int
    ) -> list[EventRun]:
        await self._visible(actor, event_id)
        return await self.runs.list_for_event(actor.org_id, event_id, limit=limit, offset=offset)

    async def list_occurrences(
        self, actor: User, start: datetime, end: datetime, *, limit: int = 200
    ) -> list[Occurrence]:
        """Occurrences of the actor's events overlapping [start, end), earliest first.

        Naive datetimes are read as UTC.
        """
        utc = parse_zone("UTC")
        start, end = _instant(start, utc, "start"), _instant(end, utc, "end")
        if end <= start:
            raise Unprocessable("end must be after start")
        if not 1 <= limit <= MAX_OCCURRENCES_PER_QUERY:
            raise Unprocessable(f"limit must be between 1 and {MAX_OCCURRENCES_PER_QUERY}")
        events = await self.events.overlapping(
            actor.org_id, actor.id, start, end, limit=MAX_EVENTS_PER_QUERY
        )
        streams = []
        for event in events:
            try:
                streams.append(_occurrences(event, Schedule.of_event(event), start, end))
            except ScheduleError:
                log.warning("event %s has an unusable schedule; left out", event.id)
        merged = heapq.merge(*streams, key=lambda o: (o.starts_at, str(o.event_id)))
        return list(islice(merged, limit))

    async def preview(self, actor: User, new: NewEvent, count: int) -> list[datetime]:
        """The next `count` occurrence starts (UTC) from now of the schedule `new` describes,
        checked as an event create would check it."""
        _, schedule = await self._prepare(
            actor, replace(new, title="preview"), check_role=False, check_participants=False
        )
        now = await self.clock.now()
        upcoming = islice(schedule.occurrences_from(now), count)
        return [instant.astimezone(UTC) for instant in upcoming]

    # -- writing -----------------------------------------------------------------------
    async def create_event(
        self, actor: User, new: NewEvent, *, conn: Executor | None = None
    ) -> CalendarEvent:
        """`conn`: join the caller's transaction (an approved proposal and its status)."""
        values, schedule = await self._prepare(actor, new, conn=conn)
        now = await self.clock.now(conn)
        occurrence, run_at = next_firing(schedule, values["remind_before_minutes"], now)
        values.update(next_occurrence_at=occurrence, next_run_at=_unless_paused(values, run_at))
        async with self.db.tenant(actor.org_id).transaction(conn) as tx:
            event = await self.events.create(actor.org_id, actor.id, values, conn=tx)
            await self.audit.record(
                tx,
                org_id=actor.org_id,
                actor=actor,
                action="calendar.event_created",
                target_type="calendar_event",
                target_id=event.id,
                details={"title": event.title, "starts_at": event.starts_at.isoformat()},
            )
        log.info("calendar event %s created in org %s by %s", event.id, actor.org_id, actor.id)
        return event

    async def update_event(
        self,
        actor: User,
        event_id: UUID,
        changes: dict[str, Any],
        *,
        conn: Executor | None = None,
    ) -> CalendarEvent:
        unknown = set(changes) - set(NewEvent.__dataclass_fields__)
        if unknown:
            raise Unprocessable(f"unknown fields: {', '.join(sorted(unknown))}")
        nulls = sorted(name for name in _NOT_NULL & set(changes) if changes[name] is None)
        if nulls:
            raise Unprocessable(f"cannot be null: {', '.join(nulls)}")
        async with self.db.tenant(actor.org_id).transaction(conn) as conn:
            event = await self._visible(actor, event_id, for_update=True, conn=conn)
            self._require_editor(actor, event)
            current = _as_new_event(event)
            if changes.get("kind") == EventKind.ONE_TIME:
                # switching to a single event drops what only a series has
                current = replace(current, cron=None, until_at=None, max_occurrences=None)
            merged = replace(current, **changes)
            # what was valid when stored stays acceptable (a participant may have left since)
            values, schedule = await self._prepare(
                actor,
                merged,
                check_role="role_code" in changes,
                check_participants="participants" in changes,
                conn=conn,
            )
            if _SCHEDULE_FIELDS & set(changes):
                now = await self.clock.now(conn)
                occurrence, run_at = next_firing(schedule, values["remind_before_minutes"], now)
                values.update(
                    next_occurrence_at=occurrence, next_run_at=_unless_paused(values, run_at)
                )
            updated = await self.events.update(actor.org_id, event_id, values, conn=conn)
            if updated is None:
                raise NotFound("event not found")
            await self.audit.record(
                conn,
                org_id=actor.org_id,
                actor=actor,
                action="calendar.event_updated",
                target_type="calendar_event",
                target_id=event_id,
                details={"fields": sorted(changes)},
            )
        return updated

    async def delete_event(
        self, actor: User, event_id: UUID, *, conn: Executor | None = None
    ) -> None:
        async with self.db.tenant(actor.org_id).transaction(conn) as tx:
            event = await self._visible(actor, event_id, for_update=True, conn=tx)
            self._require_editor(actor, event)
            if not await self.events.soft_delete(actor.org_id, event_id, conn=tx):
                raise NotFound("event not found")
            await self.audit.record(
                tx,
                org_id=actor.org_id,
                actor=actor,
                action="calendar.event_deleted",
                target_type="calendar_event",
                target_id=event_id,
                details={"title": event.title},
            )

    @staticmethod
    def _require_editor(actor: User, event: CalendarEvent) -> None:
        if not (actor.is_org_admin or actor.id == event.owner_id):
            raise Forbidden("only the owner or an administrator may change this event")

    async def _prepare(
        self,
        actor: User,
        new: NewEvent,
        *,
        check_role: bool = True,
        check_participants: bool = True,
        conn: Executor | None = None,
    ) -> tuple[dict[str, Any], Schedule]:
        """Validate `new` and return the column values plus its schedule."""
        title = (new.title or "").strip()
        if not title or len(title) > MAX_TITLE:
            raise Unprocessable(f"title must be 1 to {MAX_TITLE} characters")
        if len(new.description or "") > MAX_TEXT or len(new.prompt or "") > MAX_TEXT:
            raise Unprocessable(f"description and prompt are limited to {MAX_TEXT} characters")
        kind = _enum(EventKind, new.kind, "kind")
        missed_policy = _enum(MissedPolicy, new.missed_policy, "missed_policy")
        try:
            zone = parse_zone(new.timezone)
        except ScheduleError as exc:
            raise Unprocessable(str(exc)) from exc
        starts_at = _instant(new.starts_at, zone, "starts_at")
        ends_at = _instant(new.ends_at, zone, "ends_at") if new.ends_at is not None else None
        until_at = _instant(new.until_at, zone, "until_at") if new.until_at is not None else None
        if ends_at is not None and ends_at <= starts_at:
            raise Unprocessable("ends_at must be after starts_at")
        if kind is EventKind.ONE_TIME:
            extra = [
                name
                for name, value in (
                    ("cron", new.cron),
                    ("until_at", until_at),
                    ("max_occurrences", new.max_occurrences),
                )
                if value is not None
            ]
            if extra:
                raise Unprocessable(f"only recurring events take {', '.join(extra)}")
        elif until_at is not None and until_at <= starts_at:
            raise Unprocessable("until_at must be after starts_at")
        if not 0 <= new.remind_before_minutes <= MAX_REMIND_MINUTES:
            raise Unprocessable(f"remind_before_minutes must be 0 to {MAX_REMIND_MINUTES}")
        role_code = new.role_code or None
        if new.prompt and role_code is None:
            raise Unprocessable("a prompt needs a role_code: the AI role that answers it")
        if (
            check_role
            and role_code is not None
            and await self.roles.get(actor.org_id, role_code) is None
        ):
            raise Unprocessable(f"unknown AI role '{role_code}'")
        participants = list(dict.fromkeys(new.participants))
        if check_participants:
            participants = await self._participants(actor, participants)
        try:
            build = Schedule.build
            args: dict[str, Any] = {
                "kind": kind,
                "starts_at": starts_at,
                "cron": new.cron,
                "timezone": new.timezone,
                "until_at": until_at,
                "max_occurrences": new.max_occurrences,
            }
            if (new.max_occurrences or 0) > 500:  # counting thousands of runs takes a while
                schedule = await asyncio.to_thread(lambda: build(**args))
            else:
                schedule = build(**args)
        except ScheduleError as exc:
            raise Unprocessable(str(exc)) from exc
        values = {
            "title": title,
            "description": new.description or "",
            "starts_at": starts_at,
            "ends_at": ends_at,
            "kind": kind.value,
            "cron": schedule.series.expression if schedule.series else None,
            "timezone": new.timezone,
            "until_at": until_at,
            "max_occurrences": new.max_occurrences if kind is EventKind.RECURRING else None,
            "remind_before_minutes": new.remind_before_minutes,
            "role_code": role_code,
            "prompt": new.prompt or None,
            "participants": participants,
            "missed_policy": missed_policy.value,
            "is_active": new.is_active,
            "series_end_at": schedule.series_end_at,
        }
        return values, schedule

    async def _participants(self, actor: User, requested: list[UUID]) -> list[UUID]:
        wanted = list(dict.fromkeys(requested))
        if len(wanted) > MAX_PARTICIPANTS:
            raise Unprocessable(f"at most {MAX_PARTICIPANTS} participants")
        if not wanted:
            return []
        found = {u.id for u in await self.users.find_active_by_ids(actor.org_id, wanted)}
        missing = [str(user_id) for user_id in wanted if user_id not in found]
        if missing:
            raise Unprocessable(f"unknown participants: {', '.join(missing)}")
        return wanted


def _instant(value: datetime, zone: ZoneInfo, name: str) -> datetime:
    """`value` as an instant (naive: wall time in `zone`), within EARLIEST..LATEST."""
    try:
        instant = aware(value, zone)
    except OverflowError:
        instant = None
    if instant is None or not EARLIEST <= instant < LATEST:
        raise Unprocessable(f"{name} must be between {EARLIEST.year} and {LATEST.year - 1}")
    return instant


def _enum(enum: Any, value: Any, name: str) -> Any:
    try:
        return enum(value)
    except ValueError as exc:
        allowed = ", ".join(member.value for member in enum)
        raise Unprocessable(f"{name} must be one of: {allowed}") from exc


def _as_new_event(event: CalendarEvent) -> NewEvent:
    fields = {
        name: value
        for name, value in asdict(event).items()
        if name in NewEvent.__dataclass_fields__
    }
    return NewEvent(**fields)


def _occurrences(
    event: CalendarEvent, schedule: Schedule, start: datetime, end: datetime
) -> Iterator[Occurrence]:
    duration = event.ends_at - event.starts_at if event.ends_at else None
    for occurrence_at in schedule.occurrences_from(start - (duration or timedelta(0))):
        if occurrence_at >= end:
            return
        ends_at = occurrence_at + duration if duration else None
        if (ends_at or occurrence_at + timedelta(microseconds=1)) <= start:
            continue  # over before the range begins
        yield Occurrence(
            event_id=event.id,
            title=event.title,
            starts_at=occurrence_at.astimezone(UTC),
            ends_at=ends_at.astimezone(UTC) if ends_at else None,
            description=event.description,
            kind=event.kind,
            timezone=event.timezone,
            owner_id=event.owner_id,
            role_code=event.role_code,
        )
