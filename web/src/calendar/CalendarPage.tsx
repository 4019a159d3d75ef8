import { lazy, Suspense, useEffect, useMemo, useRef, useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { Link, useNavigate, useParams } from "react-router";
import { calendar, humanError, type CalendarEvent, type Occurrence } from "../api";
import { formatDateTime, formatTime } from "../i18n";
import { EventForm } from "./EventForm";
import { dayKey, monthGrid } from "./time";

const Markdown = lazy(() => import("../chats/Markdown"));

export default function CalendarPage() {
  const { t, i18n } = useTranslation();
  const navigate = useNavigate();
  const { eventId } = useParams();
  const [view, setView] = useState<"month" | "list">("month");
  const [cursor, setCursor] = useState(() => {
    const now = new Date();
    return { year: now.getFullYear(), month: now.getMonth() };
  });
  const [creating, setCreating] = useState(false);
  const [editing, setEditing] = useState(false);
  const days = useMemo(() => monthGrid(cursor.year, cursor.month), [cursor]);
  const start = days[0].toISOString();
  const end = new Date(days[41].getFullYear(), days[41].getMonth(), days[41].getDate() + 1).toISOString();
  const occurrences = useQuery({
    queryKey: ["calendar", "occurrences", start, end],
    queryFn: () => calendar.occurrences(start, end),
  });
  const events = useQuery({ queryKey: ["calendar", "events"], queryFn: calendar.events });
  const selected = events.data?.find((e) => e.id === eventId);

  const byDay = useMemo(() => {
    const map = new Map<string, Occurrence[]>();
    for (const occurrence of occurrences.data ?? []) {
      const key = dayKey(new Date(occurrence.starts_at));
      map.set(key, [...(map.get(key) ?? []), occurrence]);
    }
    return map;
  }, [occurrences.data]);

  const locale = i18n.language === "en" ? "en-GB" : "ru-RU";
  const monthName = new Date(cursor.year, cursor.month, 1).toLocaleDateString(locale, { month: "long", year: "numeric" });
  const shift = (delta: number) =>
    setCursor(({ year, month }) => {
      const d = new Date(year, month + delta, 1);
      return { year: d.getFullYear(), month: d.getMonth() };
    });
  const today = dayKey(new Date());
  const inMonth = (occurrence: Occurrence) => new Date(occurrence.starts_at).getMonth() === cursor.month;
  const open = (id: string) => {
    setCreating(false);
    setEditing(false);
    navigate(`/calendar/events/${id}`);
  };

  return (
    <div className="page" data-testid="calendar-page">
      <h1>{t("calendar.title")}</h1>
      <div className="toolbar">
        <div role="group" aria-label={t("calendar.title")} className="row">
          <button type="button" aria-pressed={view === "month"} data-testid="calendar-view-month" onClick={() => setView("month")}>
            {t("calendar.month")}
          </button>
          <button type="button" aria-pressed={view === "list"} data-testid="calendar-view-list" onClick={() => setView("list")}>
            {t("calendar.list")}
          </button>
        </div>
        <span className="month-nav">
          <button type="button" aria-label={t("calendar.prev")} onClick={() => shift(-1)}>
            ‹
          </button>
          <strong data-testid="calendar-month">{monthName}</strong>
          <button type="button" aria-label={t("calendar.next")} onClick={() => shift(1)}>
            ›
          </button>
        </span>
        <button
          type="button"
          onClick={() => {
            const now = new Date();
            setCursor({ year: now.getFullYear(), month: now.getMonth() });
          }}
        >
          {t("calendar.today")}
        </button>
        <span className="spacer" />
        <button
          type="button"
          className="primary"
          data-testid="event-new"
          onClick={() => {
            setCreating(true);
            setEditing(false);
            navigate("/calendar");
          }}
        >
          + {t("calendar.newEvent")}
        </button>
      </div>
      <div className="calendar-grid">
        <div>
          {view === "month" ? (
            <div className="month" data-testid="calendar-month-grid">
              {t("calendar.weekdays")
                .split(",")
                .map((d) => (
                  <div key={d} className="dow">
                    {d}
                  </div>
                ))}
              {days.map((day) => {
                const key = dayKey(day);
                const classes = ["day", day.getMonth() !== cursor.month ? "other" : "", key === today ? "today" : ""];
                return (
                  <div key={key} className={classes.join(" ")} data-testid="calendar-day" data-day={key}>
                    <span className="day-number">{day.getDate()}</span>
                    {(byDay.get(key) ?? []).map((o) => (
                      <button
                        type="button"
                        key={`${o.event_id}-${o.starts_at}`}
                        className="occurrence"
                        title={`${formatTime(o.starts_at)} ${o.title}`}
                        data-testid="calendar-occurrence"
                        data-event-id={o.event_id}
                        onClick={() => open(o.event_id)}
                      >
                        {formatTime(o.starts_at)} {o.title}
                      </button>
                    ))}
                  </div>
                );
              })}
            </div>
          ) : (
            <ul className="list-view" data-testid="calendar-list">
              {(occurrences.data ?? []).filter(inMonth).map((o) => (
                <li key={`${o.event_id}-${o.starts_at}`} data-testid="calendar-list-item" data-event-id={o.event_id}>
                  <time dateTime={o.starts_at}>{formatDateTime(o.starts_at)}</time>
                  <button type="button" className="link-button" onClick={() => open(o.event_id)}>
                    {o.title}
                  </button>
                  {o.role_code && <span className="muted">@@{o.role_code}</span>}
                </li>
              ))}
              {occurrences.data && occurrences.data.filter(inMonth).length === 0 && (
                <li className="muted">{t("calendar.noOccurrences")}</li>
              )}
            </ul>
          )}
          <h2 style={{ marginTop: "1rem" }}>{t("calendar.events")}</h2>
          <ul className="list-view" data-testid="event-list">
            {(events.data ?? []).map((e) => (
              <li key={e.id} data-testid="event-list-item" data-event-id={e.id}>
                <Link to={`/calendar/events/${e.id}`} onClick={() => setCreating(false)}>
                  {e.title}
                </Link>
                <span className="muted small">
                  {e.kind === "recurring" ? e.cron : formatDateTime(e.starts_at)}
                  {e.next_run_at ? ` · ${t("calendar.nextAt", { when: formatDateTime(e.next_run_at) })}` : ""}
                </span>
              </li>
            ))}
            {events.data?.length === 0 && <li className="muted">{t("common.empty")}</li>}
          </ul>
        </div>
        <aside>
          {creating && (
            <EventForm
              onSaved={(saved) => open(saved.id)}
              onCancel={() => setCreating(false)}
            />
          )}
          {!creating && selected && editing && (
            <EventForm key={selected.id} event={selected} onSaved={() => setEditing(false)} onCancel={() => setEditing(false)} />
          )}
          {!creating && selected && !editing && <EventDetails event={selected} onEdit={() => setEditing(true)} />}
        </aside>
      </div>
    </div>
  );
}

function EventDetails({ event, onEdit }: { event: CalendarEvent; onEdit: () => void }) {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const remove = useMutation({
    mutationFn: () => calendar.remove(event.id),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: ["calendar"] });
      navigate("/calendar");
    },
  });
  const detailsRef = useRef<HTMLElement>(null);
  useEffect(() => {
    if (window.matchMedia("(max-width: 900px)").matches) detailsRef.current?.scrollIntoView({ block: "start" });
  }, [event.id]);
  const runs = useQuery({
    queryKey: ["calendar", "runs", event.id],
    queryFn: () => calendar.runs(event.id),
    refetchInterval: 10_000,
  });
  // A new or finished run moves the event on (its next run, or none after a one-time
  // event fired): show the event as the engine has it now, not as it was when opened.
  const runsSeen = (runs.data ?? []).map((run) => `${run.id}:${run.status}`).join(",");
  const lastRunsSeen = useRef<string | null>(null);
  useEffect(() => {
    if (!runs.data) return;
    if (lastRunsSeen.current !== null && lastRunsSeen.current !== runsSeen) {
      void queryClient.invalidateQueries({ queryKey: ["calendar", "events"] });
      void queryClient.invalidateQueries({ queryKey: ["calendar", "occurrences"] });
    }
    lastRunsSeen.current = runsSeen;
  }, [runs.data, runsSeen, queryClient]);
  return (
    <section
      className="card"
      data-testid="event-details"
      data-event-id={event.id}
      ref={detailsRef}
    >
      <div className="row">
        <h2 className="grow">{event.title}</h2>
        <button type="button" data-testid="event-edit" onClick={onEdit}>
          {t("common.edit")}
        </button>
        <button
          type="button"
          className="danger"
          data-testid="event-delete"
          onClick={() => window.confirm(t("common.confirmDelete")) && remove.mutate()}
        >
          {t("common.delete")}
        </button>
      </div>
      {remove.error && <p className="error">{humanError(remove.error, t)}</p>}
      {event.description && <p>{event.description}</p>}
      <p className="muted small">
        {event.kind === "recurring" ? `${event.cron} (${event.timezone})` : formatDateTime(event.starts_at)}
        {" · "}
        {event.is_active ? t("calendar.active") : t("calendar.paused")}
        {event.next_run_at && ` · ${t("calendar.nextAt", { when: formatDateTime(event.next_run_at) })}`}
      </p>
      {event.role_code && (
        <p>
          <strong>@@{event.role_code}</strong>: {event.prompt}
        </p>
      )}
      <h3>{t("calendar.runs")}</h3>
      {runs.data?.length === 0 && <p className="muted">{t("calendar.noRuns")}</p>}
      <ul className="runs" data-testid="event-runs">
        {(runs.data ?? []).map((run, i) => (
          <li key={run.id ?? `${run.occurrence_at}-${i}`} data-testid="run-item" data-status={run.status}>
            <div className="row">
              <strong className="grow">{formatDateTime(run.occurrence_at)}</strong>
              <span className={`status status-${run.status === "done" ? "done" : run.status === "failed" ? "failed" : "pending"}`}>
                {t(`calendar.runStatus.${run.status}`)}
              </span>
            </div>
            {run.notified !== null && <p className="muted small">{t("calendar.notified", { count: run.notified })}</p>}
            {run.agent_result && (
              <div data-testid="run-answer">
                <Suspense fallback={<p className="plain">{run.agent_result}</p>}>
                  <Markdown text={run.agent_result} />
                </Suspense>
              </div>
            )}
            {run.agent_error && <p className="error small">{run.agent_error}</p>}
          </li>
        ))}
      </ul>
    </section>
  );
}
