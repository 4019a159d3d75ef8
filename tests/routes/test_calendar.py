from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.support.api import Api

EVENTS = "/api/v1/calendar/events"
OCCURRENCES = "/api/v1/calendar/occurrences"


def iso(value: datetime) -> str:
    return value.isoformat()


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value)


def future(days: int = 30, hour: int = 9) -> datetime:
    base = datetime.now(UTC) + timedelta(days=days)
    return base.replace(hour=hour, minute=0, second=0, microsecond=0)


async def test_create_read_update_delete_event(api: Api, client: httpx.AsyncClient) -> None:
    org = await api.create_org(members=1)
    alice = org.members[0]
    starts = future()
    created = await client.post(
        EVENTS,
        headers=alice.headers,
        json={
            "title": "Сверка с банком",
            "description": "ежемесячная",
            "starts_at": iso(starts),
            "ends_at": iso(starts + timedelta(hours=1)),
            "remind_before_minutes": 15,
        },
    )
    assert created.status_code == 201, created.text
    event = created.json()
    assert event["owner_id"] == alice.id and event["kind"] == "one_time"
    assert parse(event["next_occurrence_at"]) == starts
    assert parse(event["next_run_at"]) == starts - timedelta(minutes=15)
    assert event["missed_policy"] == "latest" and event["is_active"] is True

    fetched = await client.get(f"{EVENTS}/{event['id']}", headers=alice.headers)
    assert fetched.status_code == 200 and fetched.json()["title"] == "Сверка с банком"
    listed = await client.get(EVENTS, headers=alice.headers)
    assert [e["id"] for e in listed.json()] == [event["id"]]

    renamed = await client.patch(
        f"{EVENTS}/{event['id']}", headers=alice.headers, json={"title": "Сверка"}
    )
    assert renamed.status_code == 200 and renamed.json()["title"] == "Сверка"
    assert renamed.json()["next_run_at"] == event["next_run_at"]

    moved = await client.patch(
        f"{EVENTS}/{event['id']}",
        headers=alice.headers,
        json={
            "starts_at": iso(starts + timedelta(days=1)),
            "remind_before_minutes": 0,
            "ends_at": None,
        },
    )
    assert moved.status_code == 200, moved.text
    assert parse(moved.json()["next_run_at"]) == starts + timedelta(days=1)
    assert moved.json()["ends_at"] is None

    deleted = await client.delete(f"{EVENTS}/{event['id']}", headers=alice.headers)
    assert deleted.status_code == 204
    gone = await client.get(f"{EVENTS}/{event['id']}", headers=alice.headers)
    assert gone.status_code == 404


async def test_recurring_event_reads_naive_times_in_its_zone(
    api: Api, client: httpx.AsyncClient
) -> None:
    org = await api.create_org(members=1)
    year = datetime.now(UTC).year + 1
    created = await client.post(
        EVENTS,
        headers=org.members[0].headers,
        json={
            "title": "Планёрка",
            "kind": "recurring",
            "cron": "0  9 * * 1-5",
            "timezone": "Europe/Moscow",
            "starts_at": f"{year}-01-05T08:00:00",  # a Monday, read as Moscow time
            "max_occurrences": 3,
            "role_code": "accountant",
            "prompt": "Какие платежи сегодня?",
            "missed_policy": "skip",
        },
    )
    assert created.status_code == 201, created.text
    event = created.json()
    assert event["cron"] == "0 9 * * 1-5"
    assert parse(event["starts_at"]) == datetime(year, 1, 5, 5, 0, tzinfo=UTC)
    first = parse(event["next_occurrence_at"])
    assert first.astimezone(UTC).hour == 6  # 09:00 in Moscow
    assert event["series_end_at"] is not None and event["missed_policy"] == "skip"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"kind": "recurring", "cron": "0 25 * * *"}, "invalid cron expression"),
        ({"kind": "recurring", "cron": "0 9 * *"}, "must have 5 fields"),
        (
            {"kind": "recurring", "cron": "0 9 * * *", "timezone": "Europe/Atlantis"},
            "unknown time zone 'Europe/Atlantis'",
        ),
        ({"ends_at": "2020-01-01T00:00:00Z"}, "ends_at must be after starts_at"),
        ({"kind": "recurring"}, "needs a cron expression"),
        ({"cron": "0 9 * * *"}, "only recurring events take cron"),
        (
            {"kind": "recurring", "cron": "0 9 * * *", "until_at": "2020-01-01T00:00:00Z"},
            "until_at must be after starts_at",
        ),
        ({"prompt": "сделай отчёт"}, "needs a role_code"),
        ({"role_code": "astrologer", "prompt": "x"}, "unknown AI role 'astrologer'"),
        ({"participants": ["00000000-0000-0000-0000-000000000001"]}, "unknown participants"),
    ],
)
async def test_invalid_events_are_422_with_a_clear_message(
    api: Api, client: httpx.AsyncClient, body: dict[str, Any], message: str
) -> None:
    org = await api.create_org(members=0)
    payload = {"title": "x", "starts_at": iso(future()), **body}
    response = await client.post(EVENTS, headers=org.admin.headers, json=payload)
    assert response.status_code == 422, response.text
    assert message in response.json()["detail"]


async def test_schema_level_validation(api: Api, client: httpx.AsyncClient) -> None:
    org = await api.create_org(members=0)
    for payload in (
        {"title": "", "starts_at": iso(future())},
        {"title": "x", "starts_at": iso(future()), "colour": "red"},
        {"title": "x", "starts_at": "tomorrow"},
        {"title": "x", "starts_at": iso(future()), "remind_before_minutes": -1},
        {"title": "x", "starts_at": iso(future()), "kind": "weekly"},
    ):
        response = await client.post(EVENTS, headers=org.admin.headers, json=payload)
        assert response.status_code == 422, (payload, response.text)
    created = await client.post(
        EVENTS, headers=org.admin.headers, json={"title": "x", "starts_at": iso(future())}
    )
    null_title = await client.patch(
        f"{EVENTS}/{created.json()['id']}", headers=org.admin.headers, json={"title": None}
    )
    assert null_title.status_code == 422 and "title" in null_title.json()["detail"]


async def test_visibility_and_tenancy(api: Api, client: httpx.AsyncClient) -> None:
    org = await api.create_org(members=3)
    owner, participant, outsider = org.members
    other = await api.create_org(members=1)
    created = await client.post(
        EVENTS,
        headers=owner.headers,
        json={"title": "1:1", "starts_at": iso(future()), "participants": [participant.id]},
    )
    assert created.status_code == 201, created.text
    url = f"{EVENTS}/{created.json()['id']}"

    # another organization: always 404, whatever the method
    for method in ("get", "patch", "delete"):
        kwargs: dict[str, Any] = {"json": {"title": "x"}} if method == "patch" else {}
        response = await client.request(method, url, headers=other.admin.headers, **kwargs)
        assert response.status_code == 404, (method, response.text)
    assert (await client.get(f"{url}/runs", headers=other.members[0].headers)).status_code == 404

    # same organization, not invited: exists but forbidden
    assert (await client.get(url, headers=outsider.headers)).status_code == 403
    # a participant reads it, sees it in their calendar, but may not change it
    assert (await client.get(url, headers=participant.headers)).status_code == 200
    listed = await client.get(EVENTS, headers=participant.headers)
    assert [e["id"] for e in listed.json()] == [created.json()["id"]]
    patch = await client.patch(url, headers=participant.headers, json={"title": "mine"})
    assert patch.status_code == 403
    assert (await client.delete(url, headers=participant.headers)).status_code == 403
    # the organization's admin may
    admin_patch = await client.patch(url, headers=org.admin.headers, json={"title": "ok"})
    assert admin_patch.status_code == 200

    # a participant who leaves does not lock the event against edits
    leaver = await api.create_member(org, "leaver")
    await client.patch(
        url, headers=owner.headers, json={"participants": [participant.id, leaver.id]}
    )
    await client.post(f"/api/v1/users/{leaver.id}/deactivate", headers=org.admin.headers)
    renamed = await client.patch(url, headers=owner.headers, json={"title": "renamed"})
    assert renamed.status_code == 200, renamed.text
    re_invited = await client.patch(
        url, headers=owner.headers, json={"participants": [participant.id, leaver.id]}
    )
    assert re_invited.status_code == 422 and "unknown participants" in re_invited.text

    # participants must be people of the same organization
    foreign = await client.post(
        EVENTS,
        headers=owner.headers,
        json={"title": "x", "starts_at": iso(future()), "participants": [other.admin.id]},
    )
    assert foreign.status_code == 422


async def test_occurrences_expand_recurring_events(api: Api, client: httpx.AsyncClient) -> None:
    org = await api.create_org(members=2)
    alice, bob = org.members
    year = datetime.now(UTC).year + 1
    weekly = await client.post(
        EVENTS,
        headers=alice.headers,
        json={
            "title": "Weekly",
            "kind": "recurring",
            "cron": "0 10 * * 1",  # Mondays 10:00 Berlin
            "timezone": "Europe/Berlin",
            "starts_at": f"{year}-03-01T00:00:00",
            "ends_at": f"{year}-03-01T00:30:00",
            "participants": [bob.id],
        },
    )
    assert weekly.status_code == 201, weekly.text
    single = await client.post(
        EVENTS,
        headers=alice.headers,
        json={"title": "Single", "starts_at": f"{year}-03-10T12:00:00Z"},
    )
    assert single.status_code == 201
    params = {"start": f"{year}-03-01T00:00:00Z", "end": f"{year}-04-01T00:00:00Z"}
    response = await client.get(OCCURRENCES, headers=alice.headers, params=params)
    assert response.status_code == 200, response.text
    occurrences = response.json()
    weekly_runs = [o for o in occurrences if o["title"] == "Weekly"]
    assert 4 <= len(weekly_runs) <= 5
    for occurrence in weekly_runs:
        start = parse(occurrence["starts_at"])
        local = start.astimezone(ZoneInfo("Europe/Berlin"))
        assert (local.weekday(), local.hour, local.minute) == (0, 10, 0)
        assert parse(occurrence["ends_at"]) - start == timedelta(minutes=30)
    assert [o["title"] for o in occurrences].count("Single") == 1
    assert [parse(o["starts_at"]) for o in occurrences] == sorted(
        parse(o["starts_at"]) for o in occurrences
    )

    bobs = await client.get(OCCURRENCES, headers=bob.headers, params=params)
    assert {o["title"] for o in bobs.json()} == {"Weekly"}
    limited = await client.get(OCCURRENCES, headers=alice.headers, params={**params, "limit": 2})
    assert len(limited.json()) == 2
    backwards = await client.get(
        OCCURRENCES,
        headers=alice.headers,
        params={"start": params["end"], "end": params["start"]},
    )
    assert backwards.status_code == 422 and "end must be after start" in backwards.text

    # pausing an event takes it off the calendar
    await client.patch(
        f"{EVENTS}/{weekly.json()['id']}", headers=alice.headers, json={"is_active": False}
    )
    paused = await client.get(OCCURRENCES, headers=alice.headers, params=params)
    assert {o["title"] for o in paused.json()} == {"Single"}


async def test_switching_kinds_recomputes_the_schedule(api: Api, client: httpx.AsyncClient) -> None:
    org = await api.create_org(members=0)
    starts = future(days=2)
    created = await client.post(
        EVENTS,
        headers=org.admin.headers,
        json={"title": "x", "kind": "recurring", "cron": "0 * * * *", "starts_at": iso(starts)},
    )
    url = f"{EVENTS}/{created.json()['id']}"
    assert parse(created.json()["next_occurrence_at"]) == starts
    once = await client.patch(url, headers=org.admin.headers, json={"kind": "one_time"})
    assert once.status_code == 200, once.text
    assert once.json()["cron"] is None and parse(once.json()["series_end_at"]) == starts
    daily = await client.patch(
        url, headers=org.admin.headers, json={"kind": "recurring", "cron": "30 8 * * *"}
    )
    assert daily.status_code == 200, daily.text
    assert parse(daily.json()["next_occurrence_at"]).minute == 30


PREVIEW = "/api/v1/calendar/preview"


async def test_preview_lists_the_next_occurrences_from_now(
    api: Api, client: httpx.AsyncClient
) -> None:
    org = await api.create_org(members=1)
    alice = org.members[0]
    body = {
        "starts_at": "2020-01-01T09:00:00",
        "kind": "recurring",
        "cron": "0 9 * * 1",
        "timezone": "Europe/Moscow",
        "count": 3,
    }
    response = await client.post(PREVIEW, headers=alice.headers, json=body)
    assert response.status_code == 200, response.text
    occurrences = [parse(value) for value in response.json()["occurrences"]]
    assert len(occurrences) == 3
    now = datetime.now(UTC)
    assert now <= occurrences[0] <= now + timedelta(days=7)
    for instant in occurrences:
        assert instant.utcoffset() == timedelta(0)
        local = instant.astimezone(ZoneInfo("Europe/Moscow"))
        assert (local.weekday(), local.hour, local.minute) == (0, 9, 0)
    assert occurrences[1] - occurrences[0] == timedelta(days=7)
    default = await client.post(PREVIEW, headers=alice.headers, json={**body, "count": None})
    assert default.status_code == 422  # count is a number when given
    body.pop("count")
    assert (
        len((await client.post(PREVIEW, headers=alice.headers, json=body)).json()["occurrences"])
        == 5
    )
    capped = await client.post(
        PREVIEW,
        headers=alice.headers,
        json={**body, "max_occurrences": 2, "starts_at": iso(future(1))},
    )
    assert len(capped.json()["occurrences"]) == 2
    one_time = await client.post(
        PREVIEW, headers=alice.headers, json={"starts_at": iso(future(2)), "count": 10}
    )
    assert [parse(v) for v in one_time.json()["occurrences"]] == [future(2)]
    past = await client.post(
        PREVIEW, headers=alice.headers, json={"starts_at": "2020-01-01T00:00:00Z"}
    )
    assert past.status_code == 200 and past.json()["occurrences"] == []
    # nothing is saved
    assert (await client.get(EVENTS, headers=alice.headers)).json() == []


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"cron": "not a cron"}, "cron"),
        ({"cron": None}, "cron"),
        ({"timezone": "Mars/Olympus"}, "zone"),
        ({"count": 0}, "count"),
        ({"count": 51}, "count"),
        ({"until_at": "2019-01-01T00:00:00Z"}, "until_at"),
    ],
)
async def test_preview_refuses_an_unusable_schedule(
    api: Api, client: httpx.AsyncClient, change: dict[str, Any], needle: str
) -> None:
    org = await api.create_org(members=1)
    body = {"starts_at": iso(future()), "kind": "recurring", "cron": "0 9 * * *", **change}
    response = await client.post(PREVIEW, headers=org.members[0].headers, json=body)
    assert response.status_code == 422, response.text
    assert needle in str(response.json()["detail"]).lower()


async def test_a_paused_event_has_no_next_run_until_resumed(
    api: Api, client: httpx.AsyncClient
) -> None:
    org = await api.create_org(members=1)
    alice = org.members[0]
    starts = future(days=3)
    created = await client.post(
        EVENTS,
        headers=alice.headers,
        json={
            "title": "Планёрка",
            "kind": "recurring",
            "cron": "0 9 * * *",
            "timezone": "UTC",
            "starts_at": iso(starts),
            "remind_before_minutes": 10,
        },
    )
    assert created.status_code == 201, created.text
    url = f"{EVENTS}/{created.json()['id']}"
    expected = starts - timedelta(minutes=10)
    assert parse(created.json()["next_run_at"]) == expected

    paused = await client.patch(url, headers=alice.headers, json={"is_active": False})
    assert paused.status_code == 200, paused.text
    assert paused.json()["is_active"] is False and paused.json()["next_run_at"] is None
    assert (await client.get(url, headers=alice.headers)).json()["next_run_at"] is None
    renamed = await client.patch(url, headers=alice.headers, json={"title": "Планёрка (пауза)"})
    assert renamed.json()["next_run_at"] is None

    resumed = await client.patch(url, headers=alice.headers, json={"is_active": True})
    assert resumed.status_code == 200, resumed.text
    assert parse(resumed.json()["next_run_at"]) == expected

    created_paused = await client.post(
        EVENTS,
        headers=alice.headers,
        json={"title": "Черновик", "starts_at": iso(starts), "is_active": False},
    )
    assert created_paused.status_code == 201, created_paused.text
    assert created_paused.json()["next_run_at"] is None
