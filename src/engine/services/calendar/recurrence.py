"""When an event occurs: cron evaluated on the wall clock of the event's time zone.

croniter iterating aware datetimes fires a daily 02:30 job twice on the night the clocks go
back. So matching happens on naive local wall time, and each matching wall time becomes one
instant: a wall time that occurs twice (autumn) means its first pass; one that does not exist
(spring) is moved forward by the gap, as if the clock had not jumped. Two wall times that land
on the same instant fire once. A daily run is therefore never skipped nor doubled.

Wall order and instant order disagree only inside a DST gap, by at most the gap, so the
streams below keep a small heap of candidates and release an instant only once no later
wall time can map before it.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, CroniterBadDateError, CroniterError, croniter

from engine.models.calendar import CalendarEvent, EventKind

# More than any DST shift ever used (2 h); bounds how far wall order and instant order diverge.
MARGIN = timedelta(hours=3)
MAX_OCCURRENCES = 10_000
_MINUTE = timedelta(minutes=1)
_TICK = timedelta(microseconds=1)


class ScheduleError(ValueError):
    """A schedule that cannot work; the message is meant for the person who wrote it."""


def parse_zone(name: str) -> ZoneInfo:
    try:
        if not name or name != name.strip() or name.startswith(("/", ".")):
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(
            f"unknown time zone '{name}': use an IANA name such as 'Europe/Moscow' or 'UTC'"
        ) from exc


def normalize_cron(expression: str) -> str:
    """The expression with single spaces; raises ScheduleError when it is not usable."""
    fields = expression.split()
    if len(fields) != 5:
        raise ScheduleError(
            f"cron expression '{expression}' must have 5 fields "
            f"(minute hour day-of-month month day-of-week), got {len(fields)}"
        )
    normalized = " ".join(fields)
    if not croniter.is_valid(normalized):
        raise ScheduleError(f"invalid cron expression '{expression}'")
    try:
        croniter(normalized, datetime(2000, 1, 1)).get_next(datetime)
    except (CroniterBadDateError, CroniterBadCronError) as exc:
        raise ScheduleError(f"cron expression '{expression}' never matches a date") from exc
    return normalized


def local_wall(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


def aware(value: datetime, zone: ZoneInfo) -> datetime:
    """`value` as an instant; a naive value is read as wall time in `zone`."""
    if value.tzinfo is None:
        return value.replace(tzinfo=zone, fold=0).astimezone(UTC)
    return value.astimezone(UTC)


class CronSeries:
    """The instants matching a 5-field cron expression in one time zone."""

    def __init__(self, expression: str, zone: ZoneInfo) -> None:
        self.expression = normalize_cron(expression)
        self.zone = zone

    def _instant(self, wall: datetime) -> datetime:
        return wall.replace(tzinfo=self.zone, fold=0).astimezone(UTC)

    def _slack(self, instant: datetime) -> timedelta:
        """MARGIN near a change of UTC offset, else zero: only there can order disagree."""
        before = (instant - MARGIN).astimezone(self.zone).utcoffset()
        after = (instant + MARGIN).astimezone(self.zone).utcoffset()
        return MARGIN if before != after else timedelta(0)

    def ascending(self, after: datetime) -> Iterator[datetime]:
        """Matching instants strictly after `after`, in order, each once."""
        walls = croniter(self.expression, local_wall(after - self._slack(after), self.zone))
        pending: list[datetime] = []
        last = after
        while True:
            try:
                candidate = self._instant(walls.get_next(datetime))
            except CroniterError:  # the expression has no more dates (far future)
                candidate = None
            if candidate is not None:
                heapq.heappush(pending, candidate)
            # a later wall time maps no earlier than candidate - slack
            limit = None if candidate is None else candidate - self._slack(candidate)
            while pending and (limit is None or pending[0] <= limit):
                instant = heapq.heappop(pending)
                if instant > last:
                    last = instant
                    yield instant
            if candidate is None:
                return

    def descending(self, at_or_before: datetime) -> Iterator[datetime]:
        """Matching instants at or before `at_or_before`, latest first, each once."""
        start = local_wall(at_or_before + self._slack(at_or_before), self.zone)
        start = start.replace(second=0, microsecond=0)
        walls = croniter(self.expression, start + _MINUTE)
        pending: list[tuple[float, datetime]] = []
        last: datetime | None = None
        while True:
            try:
                candidate = self._instant(walls.get_prev(datetime))
            except CroniterError:
                candidate = None
            if candidate is not None:
                heapq.heappush(pending, (-candidate.timestamp(), candidate))
            limit = None if candidate is None else candidate + self._slack(candidate)
            while pending and (limit is None or pending[0][1] >= limit):
                _, instant = heapq.heappop(pending)
                if instant <= at_or_before and (last is None or instant < last):
                    last = instant
                    yield instant
            if candidate is None:
                return


@dataclass(frozen=True)
class Schedule:
    """Every occurrence start of one event, bounded by its start and its series end."""

    kind: EventKind
    starts_at: datetime
    series: CronSeries | None = None
    series_end_at: datetime | None = None

    @classmethod
    def build(
        cls,
        *,
        kind: EventKind,
        starts_at: datetime,
        cron: str | None,
        timezone: str,
        until_at: datetime | None = None,
        max_occurrences: int | None = None,
    ) -> Schedule:
        zone = parse_zone(timezone)
        if kind is EventKind.ONE_TIME:
            return cls(kind, starts_at, None, starts_at)
        if not cron:
            raise ScheduleError("a recurring event needs a cron expression")
        series = CronSeries(cron, zone)
        schedule = cls(kind, starts_at, series, until_at)
        if max_occurrences is not None:
            if not 1 <= max_occurrences <= MAX_OCCURRENCES:
                raise ScheduleError(f"max_occurrences must be between 1 and {MAX_OCCURRENCES}")
            occurrences = list(islice(schedule.occurrences_from(starts_at), max_occurrences))
            if occurrences and len(occurrences) == max_occurrences:
                last = occurrences[-1]
                end = last if until_at is None else min(until_at, last)
                schedule = cls(kind, starts_at, series, end)
        if schedule.first_at_or_after(starts_at) is None:
            raise ScheduleError("the schedule has no occurrence between its start and its end")
        return schedule

    @classmethod
    def of_event(cls, event: CalendarEvent) -> Schedule:
        """The schedule of a stored event (its series end is already computed)."""
        series = None
        if event.kind is EventKind.RECURRING and event.cron:
            series = CronSeries(event.cron, parse_zone(event.timezone))
        elif event.kind is EventKind.RECURRING:
            raise ScheduleError("a recurring event needs a cron expression")
        return cls(event.kind, event.starts_at, series, event.series_end_at)

    def _within(self, instant: datetime) -> bool:
        return self.series_end_at is None or instant <= self.series_end_at

    def occurrences_from(self, start: datetime) -> Iterator[datetime]:
        """Occurrence starts at or after `start`, in order."""
        if self.series is None:
            if self.starts_at >= start:
                yield self.starts_at
            return
        for instant in self.series.ascending(max(start, self.starts_at) - _TICK):
            if not self._within(instant):
                return
            yield instant

    def first_at_or_after(self, start: datetime) -> datetime | None:
        return next(self.occurrences_from(start), None)

    def next_after(self, instant: datetime) -> datetime | None:
        return self.first_at_or_after(instant + _TICK)

    def latest_at_or_before(self, instant: datetime) -> datetime | None:
        if self.series_end_at is not None:
            instant = min(instant, self.series_end_at)
        if instant < self.starts_at:
            return None
        if self.series is None:
            return self.starts_at
        latest = next(self.series.descending(instant), None)
        return latest if latest is not None and latest >= self.starts_at else None
