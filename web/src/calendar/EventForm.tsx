import { useEffect, useState, type FormEvent } from "react";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { calendar, humanError, type CalendarEvent, type EventInput } from "../api";
import { useRoles } from "../chats/directory";
import { formatDateTime } from "../i18n";
import { browserTimeZone, defaultStart, timeZones, toApiLocal, wallClock } from "./time";

interface FormState {
  title: string;
  description: string;
  kind: "one_time" | "recurring";
  starts_at: string;
  cron: string;
  timezone: string;
  until_at: string;
  max_occurrences: string;
  remind_before_minutes: string;
  role_code: string;
  prompt: string;
}

function fromEvent(event: CalendarEvent | undefined): FormState {
  if (!event) {
    return {
      title: "",
      description: "",
      kind: "one_time",
      starts_at: defaultStart(),
      cron: "0 9 * * 1",
      timezone: browserTimeZone(),
      until_at: "",
      max_occurrences: "",
      remind_before_minutes: "0",
      role_code: "",
      prompt: "",
    };
  }
  return {
    title: event.title,
    description: event.description ?? "",
    kind: event.kind,
    starts_at: wallClock(event.starts_at, event.timezone),
    cron: event.cron ?? "0 9 * * 1",
    timezone: event.timezone,
    until_at: event.until_at ? wallClock(event.until_at, event.timezone) : "",
    max_occurrences: event.max_occurrences?.toString() ?? "",
    remind_before_minutes: String(event.remind_before_minutes),
    role_code: event.role_code ?? "",
    prompt: event.prompt ?? "",
  };
}

function schedule(form: FormState) {
  const recurring = form.kind === "recurring";
  return {
    kind: form.kind,
    starts_at: toApiLocal(form.starts_at),
    timezone: form.timezone.trim(),
    cron: recurring ? form.cron.trim() : null,
    until_at: recurring && form.until_at ? toApiLocal(form.until_at) : null,
    max_occurrences: recurring && form.max_occurrences ? Number(form.max_occurrences) : null,
    remind_before_minutes: Number(form.remind_before_minutes || 0),
  };
}

/** Create or edit an event; the next occurrences come from POST /calendar/preview as you type. */
export function EventForm({ event, onSaved, onCancel }: { event?: CalendarEvent; onSaved: (e: CalendarEvent) => void; onCancel: () => void }) {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const { roles } = useRoles();
  const [form, setForm] = useState<FormState>(() => fromEvent(event));
  const set = (patch: Partial<FormState>) => setForm((f) => ({ ...f, ...patch }));
  const preview = useMutation({ mutationFn: () => calendar.preview({ ...schedule(form), count: 5 }), meta: { quiet: true } });
  const save = useMutation({
    mutationFn: () => {
      const body: EventInput = {
        ...schedule(form),
        title: form.title.trim(),
        description: form.description,
        role_code: form.role_code || null,
        prompt: form.role_code ? form.prompt.trim() || null : null,
      };
      return event ? calendar.update(event.id, body) : calendar.create(body);
    },
    onSuccess: (saved) => {
      void queryClient.invalidateQueries({ queryKey: ["calendar"] });
      onSaved(saved);
    },
  });

  const scheduleKey = JSON.stringify(schedule(form));
  const { mutate: runPreview } = preview;
  useEffect(() => {
    if (!form.starts_at || !form.timezone || (form.kind === "recurring" && form.cron.trim().split(/\s+/).length !== 5)) return;
    const timer = setTimeout(() => runPreview(), 500);
    return () => clearTimeout(timer);
  }, [scheduleKey, runPreview, form.starts_at, form.timezone, form.kind, form.cron]);

  function submit(e: FormEvent) {
    e.preventDefault();
    save.mutate();
  }

  return (
    <form className="card form" onSubmit={submit} data-testid="event-form">
      <h2>{event ? t("calendar.editEvent") : t("calendar.newEvent")}</h2>
      <label>
        {t("calendar.eventTitle")}
        <input data-testid="event-title" required value={form.title} onChange={(e) => set({ title: e.target.value })} />
      </label>
      <label>
        {t("calendar.description")}
        <textarea data-testid="event-description" rows={2} value={form.description} onChange={(e) => set({ description: e.target.value })} />
      </label>
      <fieldset className="radios">
        <legend>{t("calendar.kind")}</legend>
        {(["one_time", "recurring"] as const).map((kind) => (
          <label key={kind} className="inline">
            <input
              type="radio"
              name="event-kind"
              data-testid={`event-kind-${kind}`}
              checked={form.kind === kind}
              onChange={() => set({ kind })}
            />
            {t(kind === "one_time" ? "calendar.oneTime" : "calendar.recurring")}
          </label>
        ))}
      </fieldset>
      <label>
        {t("calendar.startsAt")}
        <input
          type="datetime-local"
          data-testid="event-starts-at"
          required
          value={form.starts_at}
          onChange={(e) => set({ starts_at: e.target.value })}
        />
      </label>
      {form.kind === "recurring" && (
        <>
          <label>
            {t("calendar.cron")}
            <input data-testid="event-cron" required value={form.cron} onChange={(e) => set({ cron: e.target.value })} />
            <span className="muted small">{t("calendar.cronHint")}</span>
          </label>
          <div className="row">
            <label className="grow">
              {t("calendar.untilAt")}
              <input type="datetime-local" data-testid="event-until" value={form.until_at} onChange={(e) => set({ until_at: e.target.value })} />
            </label>
            <label className="grow">
              {t("calendar.maxOccurrences")}
              <input
                type="number"
                min={1}
                max={10000}
                data-testid="event-max-occurrences"
                value={form.max_occurrences}
                onChange={(e) => set({ max_occurrences: e.target.value })}
              />
            </label>
          </div>
        </>
      )}
      <div className="row">
        <label className="grow">
          {t("calendar.timezone")}
          <input list="tz-list" data-testid="event-timezone" required value={form.timezone} onChange={(e) => set({ timezone: e.target.value })} />
          <datalist id="tz-list">
            {timeZones().map((tz) => (
              <option key={tz} value={tz} />
            ))}
          </datalist>
        </label>
        <label className="grow">
          {t("calendar.remind")}
          <input
            type="number"
            min={0}
            data-testid="event-remind"
            value={form.remind_before_minutes}
            onChange={(e) => set({ remind_before_minutes: e.target.value })}
          />
        </label>
      </div>
      <label>
        {t("calendar.role")}
        <select data-testid="event-role" value={form.role_code} onChange={(e) => set({ role_code: e.target.value })}>
          <option value="">{t("calendar.noRole")}</option>
          {roles.map((r) => (
            <option key={r.code} value={r.code}>
              {r.name} (@@{r.code})
            </option>
          ))}
        </select>
      </label>
      {form.role_code && (
        <label>
          {t("calendar.prompt")}
          <textarea data-testid="event-prompt" rows={3} value={form.prompt} onChange={(e) => set({ prompt: e.target.value })} />
        </label>
      )}
      <section className="notice" aria-live="polite" data-testid="event-preview">
        <div className="row">
          <strong className="grow">{t("calendar.previewTitle")}</strong>
          <button type="button" data-testid="event-preview-button" onClick={() => preview.mutate()}>
            {t("calendar.preview")}
          </button>
        </div>
        {preview.error && <p className="error">{humanError(preview.error, t)}</p>}
        {preview.data &&
          (preview.data.occurrences.length ? (
            <ol>
              {preview.data.occurrences.map((iso) => (
                <li key={iso} data-testid="event-preview-item">
                  {formatDateTime(iso)}
                </li>
              ))}
            </ol>
          ) : (
            <p>{t("calendar.previewEmpty")}</p>
          ))}
      </section>
      {save.error && (
        <p className="error" role="alert" data-testid="event-error">
          {humanError(save.error, t)}
        </p>
      )}
      <div className="row">
        <button type="button" onClick={onCancel}>
          {t("common.cancel")}
        </button>
        <button className="primary" data-testid="event-save" disabled={save.isPending}>
          {t("common.save")}
        </button>
      </div>
    </form>
  );
}
