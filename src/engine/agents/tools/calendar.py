"""`calendar`: create and look up events of the caller's organization, as the caller."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from engine.agents.context import AgentContext
from engine.agents.tools.registry import ToolSpec

MAX_LISTED = 30


class CalendarArgs(BaseModel):
    model_config = ConfigDict(extra="ignore")
    action: Literal["create", "list", "get"] = Field(
        description="create — создать событие; list — события за период; get — одно событие"
    )
    title: str | None = Field(None, max_length=200, description="название (create)")
    description: str | None = Field(None, max_length=4000)
    starts_at: datetime | None = Field(None, description="начало, ISO 8601 с часовым поясом")
    ends_at: datetime | None = Field(None, description="окончание, ISO 8601")
    cron: str | None = Field(None, description="для повторяющихся: cron из 5 полей")
    timezone: str | None = Field(None, description="IANA-зона, например Europe/Moscow")
    range_start: datetime | None = Field(None, description="начало периода (list)")
    range_end: datetime | None = Field(None, description="конец периода (list)")
    event_id: str | None = Field(None, description="id события (get)")


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _describe(event: Any) -> str:
    when = event.starts_at.isoformat()
    repeat = f", повторяется по cron «{event.cron}» ({event.timezone})" if event.cron else ""
    return f"id={event.id}: «{event.title}», начало {when}{repeat}"


def calendar_tool(calendar_service: Any) -> ToolSpec:
    async def handle(ctx: AgentContext, args: CalendarArgs) -> str:
        if calendar_service is None:
            return "Календарь недоступен в этой установке."
        from engine.models.calendar import NewEvent

        if args.action == "create":
            if not args.title or args.starts_at is None:
                return "Для создания события нужны title и starts_at."
            event = await calendar_service.create_event(
                ctx.user,
                NewEvent(
                    title=args.title,
                    description=args.description or "",
                    starts_at=_aware(args.starts_at),
                    ends_at=_aware(args.ends_at) if args.ends_at else None,
                    kind="recurring" if args.cron else "one_time",
                    cron=args.cron,
                    timezone=args.timezone or "UTC",
                ),
            )
            return f"Событие создано: {_describe(event)}"
        if args.action == "get":
            try:
                event_id = UUID(str(args.event_id))
            except ValueError:
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
        name="calendar",
        description="Календарь организации: создать событие, посмотреть события за период.",
        args_model=CalendarArgs,
        handler=handle,
    )
