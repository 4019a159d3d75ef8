"""Cron on the wall clock of a time zone: DST neither skips nor doubles a run."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

import pytest

from engine.models.calendar import EventKind
from engine.services.calendar.recurrence import CronSeries, Schedule, ScheduleError

BERLIN = ZoneInfo("Europe/Berlin")
MOSCOW = ZoneInfo("Europe/Moscow")


def local(instants: list[datetime], zone: ZoneInfo) -> list[str]:
    return [i.astimezone(zone).isoformat() for i in instants]


def upcoming(expression: str, zone: ZoneInfo, after: datetime, count: int) -> list[datetime]:
    return list(islice(CronSeries(expression, zone).ascending(after), count))


def test_daily_run_in_spring_gap_is_moved_not_skipped() -> None:
    runs = upcoming("30 2 * * *", BERLIN, datetime(2024, 3, 29, 12, tzinfo=UTC), 3)
    # 02:30 does not exist on 31 March: it fires once, an hour later by the new clock
    assert local(runs, BERLIN) == [
        "2024-03-30T02:30:00+01:00",
        "2024-03-31T03:30:00+02:00",
        "2024-04-01T02:30:00+02:00",
    ]


def test_daily_run_in_autumn_overlap_fires_once() -> None:
    runs = upcoming("30 2 * * *", BERLIN, datetime(2024, 10, 25, 12, tzinfo=UTC), 3)
    assert local(runs, BERLIN) == [
        "2024-10-26T02:30:00+02:00",
        "2024-10-27T02:30:00+02:00",  # the first 02:30 only
        "2024-10-28T02:30:00+01:00",
    ]


def test_hourly_runs_across_both_changes_have_no_duplicates() -> None:
    spring = upcoming("0 * * * *", BERLIN, datetime(2024, 3, 30, 23, 30, tzinfo=UTC), 3)
    assert local(spring, BERLIN) == [
        "2024-03-31T01:00:00+01:00",
        "2024-03-31T03:00:00+02:00",  # 02:00 does not exist and lands on 03:00: fired once
        "2024-03-31T04:00:00+02:00",
    ]
    autumn = upcoming("0 * * * *", BERLIN, datetime(2024, 10, 26, 22, 30, tzinfo=UTC), 3)
    assert local(autumn, BERLIN) == [
        "2024-10-27T01:00:00+02:00",
        "2024-10-27T02:00:00+02:00",
        "2024-10-27T03:00:00+01:00",
    ]


def test_moscow_dst_history_and_the_2014_switch() -> None:
    spring_2010 = upcoming("30 2 * * *", MOSCOW, datetime(2010, 3, 26, 12, tzinfo=UTC), 3)
    assert local(spring_2010, MOSCOW) == [
        "2010-03-27T02:30:00+03:00",
        "2010-03-28T03:30:00+04:00",
        "2010-03-29T02:30:00+04:00",
    ]
    # 26 Oct 2014: clocks went from 02:00 back to 01:00 for good (UTC+4 -> UTC+3)
    switch = upcoming("30 1 * * *", MOSCOW, datetime(2014, 10, 24, 12, tzinfo=UTC), 3)
    assert local(switch, MOSCOW) == [
        "2014-10-25T01:30:00+04:00",
        "2014-10-26T01:30:00+04:00",
        "2014-10-27T01:30:00+03:00",
    ]
    # no DST today: 09:00 Moscow is 06:00 UTC all year round
    today = upcoming("0 9 * * *", MOSCOW, datetime(2025, 3, 29, tzinfo=UTC), 3)
    today += upcoming("0 9 * * *", MOSCOW, datetime(2025, 10, 25, tzinfo=UTC), 3)
    assert {run.astimezone(UTC).hour for run in today} == {6}


@pytest.mark.parametrize("zone_name", ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe"])
@pytest.mark.parametrize("expression", ["*/7 * * * *", "30 2 * * *", "0,30 2,3 * * *"])
def test_streams_forward_and_backward_agree(zone_name: str, expression: str) -> None:
    series = CronSeries(expression, ZoneInfo(zone_name))
    rng = random.Random(7)
    for start in (datetime(2024, 3, 9, tzinfo=UTC), datetime(2024, 10, 26, tzinfo=UTC)):
        runs = list(islice(series.ascending(start), 600))
        assert runs == sorted(set(runs))
        for _ in range(40):
            index = rng.randrange(1, len(runs) - 1)
            probe = runs[index] + timedelta(seconds=rng.choice([0, 1, 59]))
            assert next(series.descending(probe)) == runs[index]
            assert next(series.ascending(runs[index])) == runs[index + 1]


def test_schedule_bounds_by_until_and_max_occurrences() -> None:
    start = datetime(2025, 1, 6, 6, 0, tzinfo=UTC)  # Monday 09:00 Moscow
    weekly = Schedule.build(
        kind=EventKind.RECURRING,
        starts_at=start,
        cron="0 9 * * 1",
        timezone="Europe/Moscow",
        max_occurrences=3,
    )
    runs = list(weekly.occurrences_from(start - timedelta(days=30)))
    assert runs == [start, start + timedelta(days=7), start + timedelta(days=14)]
    assert weekly.series_end_at == runs[-1]
    assert weekly.next_after(runs[-1]) is None
    assert weekly.latest_at_or_before(start + timedelta(days=100)) == runs[-1]
    assert weekly.latest_at_or_before(start - timedelta(minutes=1)) is None

    until = Schedule.build(
        kind=EventKind.RECURRING,
        starts_at=start,
        cron="0 9 * * 1",
        timezone="Europe/Moscow",
        until_at=start + timedelta(days=8),
        max_occurrences=10,
    )
    assert list(until.occurrences_from(start)) == [start, start + timedelta(days=7)]

    once = Schedule.build(kind=EventKind.ONE_TIME, starts_at=start, cron=None, timezone="UTC")
    assert list(once.occurrences_from(start)) == [start]
    assert once.next_after(start) is None


@pytest.mark.parametrize(
    ("cron", "zone", "message"),
    [
        ("* * * *", "UTC", "must have 5 fields"),
        ("0 0 * * * *", "UTC", "must have 5 fields"),
        ("@daily", "UTC", "must have 5 fields"),
        ("61 * * * *", "UTC", "invalid cron expression"),
        ("0 0 30 2 *", "UTC", "never matches"),
        ("0 9 * * *", "Mars/Olympus", "unknown time zone"),
        ("0 9 * * *", "../../etc/passwd", "unknown time zone"),
        (None, "UTC", "needs a cron expression"),
    ],
)
def test_bad_schedules_are_explained(cron: str | None, zone: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        Schedule.build(
            kind=EventKind.RECURRING,
            starts_at=datetime(2025, 1, 1, tzinfo=UTC),
            cron=cron,
            timezone=zone,
        )
