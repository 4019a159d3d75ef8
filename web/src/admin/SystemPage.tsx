import { useQuery } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { humanError, system, type HealthReport, type ModelServer } from "../api";
import { formatTime } from "../i18n";

const REFRESH_MS = 5_000;

/** What a model server is doing, in words, and the class that colours it. */
function serverState(server: ModelServer, t: (key: string, options?: Record<string, unknown>) => string) {
  if (server.state === "ejected") {
    const until = server.ejected_until ? formatTime(server.ejected_until) : "";
    return { text: t("system.ejected", { until }), tone: "failed" };
  }
  if (server.reachable === false) return { text: t("system.unreachable"), tone: "failed" };
  if (server.model_present === false) return { text: t("system.modelMissing"), tone: "failed" };
  return { text: t("system.healthy"), tone: "done" };
}

function statusTone(status: HealthReport["status"]): string {
  return status === "ok" ? "done" : status === "degraded" ? "running" : "failed";
}

export default function SystemPage() {
  const { t } = useTranslation();
  const health = useQuery({ queryKey: ["health"], queryFn: system.health, refetchInterval: REFRESH_MS });
  const report = health.data;

  return (
    <div className="page" data-testid="system-page">
      <h1>{t("system.title")}</h1>
      {health.error && (
        <p className="error" role="alert">
          {humanError(health.error, t)}
        </p>
      )}
      {report && (
        <>
          <dl className="card facts" data-testid="system-summary" data-status={report.status}>
            <dt>{t("system.status")}</dt>
            <dd>
              <span className={`status status-${statusTone(report.status)}`}>{t(`system.overall.${report.status}`)}</span>
            </dd>
            <dt>{t("system.database")}</dt>
            <dd data-testid="system-database">
              {report.database.ok ? t("system.databaseOk", { ms: report.database.latency_ms }) : t("system.databaseDown")}
            </dd>
            <dt>{t("system.queue")}</dt>
            <dd data-testid="system-queue">
              {report.ai.queue_length === null
                ? "—"
                : report.ai.queue_length === 0
                  ? t("system.queueEmpty")
                  : t("system.queueLength", { count: report.ai.queue_length })}
            </dd>
            <dt>{t("system.version")}</dt>
            <dd>{report.version}</dd>
          </dl>
          <h2>{t("system.servers")}</h2>
          <div className="table-wrap">
            <table className="cards-on-phone" data-testid="model-servers">
              <thead>
                <tr>
                  <th>{t("system.server")}</th>
                  <th>{t("system.model")}</th>
                  <th>{t("system.state")}</th>
                  <th>{t("system.slots")}</th>
                  <th>{t("system.lastError")}</th>
                </tr>
              </thead>
              <tbody>
                {report.llm_backends.map((server) => {
                  const state = serverState(server, t);
                  const problem = server.error ?? (server.consecutive_failures > 0 ? server.last_error : null);
                  return (
                    <tr key={server.name} data-testid="model-server" data-name={server.name} data-state={server.state}>
                      <td data-label={t("system.server")}>
                        {server.name} <span className="muted small">· {server.provider}</span>
                      </td>
                      <td data-label={t("system.model")}>{server.model}</td>
                      <td data-label={t("system.state")}>
                        <span className={`status status-${state.tone}`}>{state.text}</span>
                      </td>
                      <td data-label={t("system.slots")} data-testid="model-server-slots">
                        {t("system.slotsInUse", { used: server.slots_in_use, capacity: server.capacity })}
                      </td>
                      <td data-label={t("system.lastError")} className="small">
                        {problem
                          ? server.consecutive_failures > 0
                            ? t("system.failuresInRow", { error: problem, count: server.consecutive_failures })
                            : problem
                          : ""}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
          {report.llm_backends.length === 0 && <p className="muted">{t("system.noServers")}</p>}
          <p className="muted small">{t("system.refreshes")}</p>
        </>
      )}
    </div>
  );
}
