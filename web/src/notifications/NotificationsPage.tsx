import { useEffect, useState, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { humanError, notifications, type Channel, type DeliveryAttempt, type LinkToken } from "../api";
import { formatDateTime } from "../i18n";

export default function NotificationsPage() {
  const { t } = useTranslation();
  return (
    <div className="page" data-testid="notifications-page">
      <h1>{t("notifications.title")}</h1>
      <Channels />
      <TelegramLink />
      <DeliveryLog />
    </div>
  );
}

function Channels() {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const channels = useQuery({ queryKey: ["channels"], queryFn: notifications.channels });
  const [form, setForm] = useState({ type: "email" as "email" | "telegram", address: "", priority: "0" });
  const [testResults, setTestResults] = useState<Record<string, DeliveryAttempt>>({});
  const refresh = () => {
    void queryClient.invalidateQueries({ queryKey: ["channels"] });
    void queryClient.invalidateQueries({ queryKey: ["delivery-log"] });
  };
  const create = useMutation({
    mutationFn: () =>
      notifications.createChannel({ type: form.type, address: form.address.trim(), priority: Number(form.priority || 0), enabled: true }),
    onSuccess: () => {
      setForm({ ...form, address: "" });
      refresh();
    },
  });
  const update = useMutation({
    mutationFn: ({ id, body }: { id: string; body: { priority?: number; enabled?: boolean } }) => notifications.updateChannel(id, body),
    onSuccess: refresh,
  });
  const remove = useMutation({ mutationFn: (id: string) => notifications.deleteChannel(id), onSuccess: refresh });
  const test = useMutation({
    mutationFn: (id: string) => notifications.test(id),
    onSuccess: (attempt, id) => {
      setTestResults((r) => ({ ...r, [id]: attempt }));
      refresh();
    },
  });
  const error = create.error ?? update.error ?? remove.error ?? test.error;

  function submit(e: FormEvent) {
    e.preventDefault();
    create.mutate();
  }

  return (
    <section className="card" aria-labelledby="channels-title">
      <h2 id="channels-title">{t("notifications.channels")}</h2>
      <div className="table-wrap">
        <table data-testid="channel-list">
          <thead>
            <tr>
              <th>{t("notifications.type")}</th>
              <th>{t("notifications.address")}</th>
              <th>{t("notifications.priority")}</th>
              <th>{t("notifications.enabled")}</th>
              <th>{t("notifications.verified")}</th>
              <th>{t("common.actions")}</th>
            </tr>
          </thead>
          <tbody>
            {(channels.data ?? []).map((c: Channel) => (
              <tr key={c.id} data-testid="channel-item" data-channel-id={c.id} data-type={c.type}>
                <td>{c.type === "email" ? "E-mail" : "Telegram"}</td>
                <td>{c.address}</td>
                <td>
                  <input
                    type="number"
                    min={-1000}
                    max={1000}
                    style={{ width: "6rem" }}
                    aria-label={`${t("notifications.priority")}: ${c.address}`}
                    defaultValue={c.priority}
                    data-testid="channel-priority"
                    onBlur={(e) => {
                      const priority = Number(e.target.value);
                      if (priority !== c.priority) update.mutate({ id: c.id, body: { priority } });
                    }}
                  />
                </td>
                <td>
                  <input
                    type="checkbox"
                    aria-label={`${t("notifications.enabled")}: ${c.address}`}
                    checked={c.enabled}
                    data-testid="channel-enabled"
                    onChange={(e) => update.mutate({ id: c.id, body: { enabled: e.target.checked } })}
                  />
                </td>
                <td>{c.verified ? t("notifications.verified") : <span className="muted">{t("notifications.notVerified")}</span>}</td>
                <td>
                  <div className="row">
                    <button type="button" data-testid="channel-test" disabled={test.isPending} onClick={() => test.mutate(c.id)}>
                      {t("notifications.test")}
                    </button>
                    <button
                      type="button"
                      className="danger"
                      data-testid="channel-delete"
                      onClick={() => window.confirm(t("common.confirmDelete")) && remove.mutate(c.id)}
                    >
                      {t("common.delete")}
                    </button>
                  </div>
                  {testResults[c.id] && (
                    <p className="small" role="status" data-testid="channel-test-result">
                      {t("notifications.testResult", { status: t(`notifications.deliveryStatus.${testResults[c.id].status}`) })}
                      {testResults[c.id].error ? ` — ${testResults[c.id].error}` : ""}
                    </p>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {channels.data?.length === 0 && <p className="muted">{t("common.empty")}</p>}
      <form className="row" onSubmit={submit} data-testid="channel-form" style={{ marginTop: "0.75rem" }}>
        <label>
          {t("notifications.type")}
          <select data-testid="channel-type" value={form.type} onChange={(e) => setForm({ ...form, type: e.target.value as "email" | "telegram" })}>
            <option value="email">E-mail</option>
            <option value="telegram">Telegram</option>
          </select>
        </label>
        <label className="grow">
          {form.type === "email" ? t("notifications.addressEmail") : t("notifications.addressTelegram")}
          <input
            data-testid="channel-address"
            required
            type={form.type === "email" ? "email" : "text"}
            value={form.address}
            onChange={(e) => setForm({ ...form, address: e.target.value })}
          />
        </label>
        <label>
          {t("notifications.priority")}
          <input
            type="number"
            min={-1000}
            max={1000}
            style={{ width: "6rem" }}
            data-testid="channel-new-priority"
            value={form.priority}
            onChange={(e) => setForm({ ...form, priority: e.target.value })}
          />
        </label>
        <button className="primary" data-testid="channel-add" disabled={create.isPending}>
          {t("notifications.addChannel")}
        </button>
      </form>
      {error && (
        <p className="error" role="alert">
          {humanError(error, t)}
        </p>
      )}
    </section>
  );
}

function TelegramLink() {
  const { t } = useTranslation();
  const [qr, setQr] = useState<string | null>(null);
  const link = useMutation({ mutationFn: notifications.linkToken, meta: { quiet: true } });
  const data: LinkToken | undefined = link.data;

  useEffect(() => {
    setQr(null);
    if (!data?.deep_link) return;
    let alive = true;
    void import("qrcode").then((QRCode) =>
      QRCode.toDataURL(data.deep_link!, { margin: 1, width: 200 }).then((url) => alive && setQr(url)),
    );
    return () => {
      alive = false;
    };
  }, [data?.deep_link]);

  return (
    <section className="card" aria-labelledby="telegram-title" data-testid="telegram-link">
      <h2 id="telegram-title">{t("notifications.telegram")}</h2>
      <p className="muted">{t("notifications.telegramHelp")}</p>
      <button type="button" data-testid="telegram-link-button" disabled={link.isPending} onClick={() => link.mutate()}>
        {t("notifications.getLink")}
      </button>
      {link.error && (
        <p className="error" role="alert">
          {humanError(link.error, t)}
        </p>
      )}
      {data && (
        <div data-testid="telegram-link-result">
          {data.deep_link && (
            <p>
              <a href={data.deep_link} target="_blank" rel="noopener noreferrer" data-testid="telegram-deep-link">
                {data.deep_link}
              </a>
            </p>
          )}
          {qr && <img className="qr" src={qr} width={200} height={200} alt="QR" data-testid="telegram-qr" />}
          <p>
            {t("notifications.telegramCommand")}
            <code>{data.start_command}</code>
          </p>
          <p className="muted small">{t("notifications.telegramExpires", { when: formatDateTime(data.expires_at) })}</p>
        </div>
      )}
    </section>
  );
}

function DeliveryLog() {
  const { t } = useTranslation();
  const log = useQuery({ queryKey: ["delivery-log"], queryFn: notifications.log, refetchInterval: 15_000 });
  return (
    <section className="card" aria-labelledby="log-title">
      <h2 id="log-title">{t("notifications.log")}</h2>
      {log.data?.length === 0 && <p className="muted">{t("notifications.noLog")}</p>}
      {log.data && log.data.length > 0 && (
        <div className="table-wrap">
          <table data-testid="delivery-log">
            <thead>
              <tr>
                <th>{t("notifications.when")}</th>
                <th>{t("notifications.type")}</th>
                <th>{t("notifications.address")}</th>
                <th>{t("notifications.status")}</th>
                <th>{t("notifications.attempt")}</th>
                <th>{t("notifications.source")}</th>
                <th>{t("notifications.error")}</th>
              </tr>
            </thead>
            <tbody>
              {log.data.map((a) => (
                <tr key={a.id} data-testid="delivery-log-item" data-status={a.status}>
                  <td>{formatDateTime(a.created_at)}</td>
                  <td>{a.channel_type}</td>
                  <td>{a.address}</td>
                  <td>{t(`notifications.deliveryStatus.${a.status}`)}</td>
                  <td>{a.attempt}</td>
                  <td>{a.source}</td>
                  <td className="small">{a.error}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
