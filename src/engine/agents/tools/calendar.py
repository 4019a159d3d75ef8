"""`calendar`: look up, create, change and delete events of the caller's organization.

Reads run at once, as the asking user. Writes run at once only when the role declares that
its calendar writes need no approval (`agents/tools/approval.py`); otherwise they become a
proposal (what would change, with the event's `updated_at` for conflict detection) that a
person approves later, when `apply_calendar_write` carries it out as the approver.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from engine.agents.context import AgentContext
from engine.agents.tools.approval import Proposer, needs_approval
from engine.agents.tools.registry import ToolSpec
from engine.models.calendar import NewEvent
from engine.models.proposal import PlannedWrite

MAX_LISTED = 30
TOOL = "calendar"
TARGET = "calendar_event"
# event fields the tool may change, and which of them are instants
_EDITABLE = ("title", "description", "starts_at", "ends_at", "cron", "timezone")
_INSTANTS = frozenset({"starts_at", "ends_at"})


class CalendarArgs(BaseModel):
    model_config = ConfigDict(extra="ignore")
    action: Literal["create", "update", "delete", "list", "get"] = Field(
        description=(
            "create — создать событие; update — изменить событие; delete — удалить событие; "
            "list — события за период; get — одно событие"
        )
    )
    title: str | None = Field(None, max_length=200, description="название (create, update)")
    description: str | None = Field(None, max_length=4000)
    starts_at: datetime | None = Field(None, description="начало, ISO 8601 с часовым поясом")
    ends_at: datetime | None = Field(None, description="окончание, ISO 8601")
    cron: str | None = Field(None, description="для повторяющихся: cron из 5 полей")
    timezone: str | None = Field(None, description="IANA-зона, например Europe/Moscow")
    range_start: datetime | None = Field(None, description="начало периода (list)")
    range_end: datetime | None = Field(None, description="конец периода (list)")
    event_id: str | None = Field(None, description="id события (get, update, delete)")


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _describe(event: Any) -> str:
    when = event.starts_at.isoformat()
    repeat = f", повторяется по cron «{event.cron}» ({event.timezone})" if event.cron else ""
    return f"id={event.id}: «{event.title}», начало {when}{repeat}"


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _event_id(raw: str | None) -> UUID | None:
    try:
        return UUID(str(raw))
    except ValueError:
        return None


async def plan_calendar_write(
    calendar_service: Any, ctx: AgentContext, args: CalendarArgs
) -> PlannedWrite | str:
    """The write `args` asks for, as structured data; or why it cannot be planned."""
    if args.action == "create":
        if not args.title or args.starts_at is None:
            return "Для создания события нужны title и starts_at."
        event = {
            "title": args.title,
            "description": args.description or "",
            "starts_at": _aware(args.starts_at).isoformat(),
            "ends_at": _aware(args.ends_at).isoformat() if args.ends_at else None,
            "kind": "recurring" if args.cron else "one_time",
            "cron": args.cron,
            "timezone": args.timezone or "UTC",
        }
        return PlannedWrite(
            tool=TOOL,
            action="create",
            target_type=TARGET,
            target_id=None,
            target_version=None,
            payload={"event": event},
            summary=f"создать событие «{args.title}» на {event['starts_at']}",
        )
    event_id = _event_id(args.event_id)
    if event_id is None:
        return "Событие не найдено."
    current = await calendar_service.get_event(ctx.user, event_id)
    if args.action == "delete":
        return PlannedWrite(
            tool=TOOL,
            action="delete",
            target_type=TARGET,
            target_id=str(current.id),
            target_version=current.updated_at.isoformat(),
            payload={"before": {name: _json(getattr(current, name)) for name in _EDITABLE}},
            summary=f"удалить событие «{current.title}»",
        )
    changes: dict[str, Any] = {}
    for name in _EDITABLE:
        value = getattr(args, name)
        if value is None:
            continue
        changes[name] = _aware(value).isoformat() if name in _INSTANTS else value
    if not changes:
        return "Не указано, что изменить в событии."
    return PlannedWrite(
        tool=TOOL,
        action="update",
        target_type=TARGET,
        target_id=str(current.id),
        target_version=current.updated_at.isoformat(),
        payload={
            "changes": changes,
            "before": {name: _json(getattr(current, name)) for name in changes},
        },
        summary=f"изменить событие «{current.title}»: {', '.join(sorted(changes))}",
    )


def _values(raw: dict[str, Any]) -> dict[str, Any]:
    return {
        name: datetime.fromisoformat(value) if name in _INSTANTS and value else value
        for name, value in raw.items()
    }


async def apply_calendar_write(
    calendar_service: Any,
    actor: Any,
    action: str,
    target_id: str | None,
    payload: dict[str, Any],
    *,
    conn: Any = None,
) -> Any:
    """Carry out a planned write as `actor` (the calendar's own permission rules apply).

    Returns the event created or changed, None for a deletion."""
    if action == "create":
        new = NewEvent(**_values(payload["event"]))
        return await calendar_service.create_event(actor, new, conn=conn)
    event_id = UUID(str(target_id))
    if action == "update":
        return await calendar_service.update_event(
            actor, event_id, _values(payload["changes"]), conn=conn
        )
    if action == "delete":
        await calendar_service.delete_event(actor, event_id, conn=conn)
        return None
    raise ValueError(f"unknown calendar action {action!r}")


def calendar_tool(calendar_service: Any, propose: Proposer | None = None) -> ToolSpec:
    async def handle(ctx: AgentContext, args: CalendarArgs) -> str:
        if calendar_service is None:
            return "Календарь недоступен в этой установке."
        if args.action in ("create", "update", "delete"):
            planned = await plan_calendar_write(calendar_service, ctx, args)
            if isinstance(planned, str):
                return planned
            if propose is not None and needs_approval(ctx, TOOL):
                return await propose(ctx, planned)
            event = await apply_calendar_write(
                calendar_service, ctx.user, planned.action, planned.target_id, planned.payload
            )
            if event is None:
                return "Событие удалено."
            verb = "создано" if planned.action == "create" else "изменено"
            return f"Событие {verb}: {_describe(event)}"
        if args.action == "get":
            event_id = _event_id(args.event_id)
            if event_id is None:
                return "Событие не найдено."
            return _describe(await calendar_service.get_event(ctx.user, event_id))
        start = _aware(args.range_start) if args.range_start else datetime.now(UTC)
        end = _aware(args.range_end) if args.range_end else start + timedelta(days=7)
        occurrences = await calendar_service.list_occurrences(
            ctx.user, start, end, limit=MAX_LISTED
        )
        if not occurrences:
            return "В этом периоде событий нет."
        return "\n".join(
            f"- {o.starts_at.isoformat()}: «{o.title}» (id={o.event_id})" for o in occurrences
        )

    return ToolSpec(
        name=TOOL,
        description=(
            "Календарь организации: посмотреть события за период, создать, изменить или "
            "удалить событие. Изменения могут требовать одобрения человеком."
        ),
        args_model=CalendarArgs,
        handler=handle,
    )
