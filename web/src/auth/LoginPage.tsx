import { useState, type FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { Navigate, useNavigate, useSearchParams } from "react-router";
import { humanError } from "../api";
import { login, takeSessionLost, useCurrentUser } from "./session";
import { LanguageSwitch } from "../shell/LanguageSwitch";
import { safeNext } from "./next";

export default function LoginPage() {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const user = useCurrentUser();
  const [sessionLost] = useState(takeSessionLost);
  const [form, setForm] = useState({ login: "", password: "", organization: "" });
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const next = safeNext(params.get("next"));

  if (user) return <Navigate to={next} replace />;

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await login({
        login: form.login.trim(),
        password: form.password,
        ...(form.organization.trim() ? { organization: form.organization.trim() } : {}),
      });
      navigate(next, { replace: true });
    } catch (err) {
      setError(humanError(err, t));
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="login-page">
      <form className="card login-card" onSubmit={submit} data-testid="login-form">
        <div className="login-head">
          <h1>{t("app.name")}</h1>
          <LanguageSwitch />
        </div>
        <h2>{t("login.title")}</h2>
        {sessionLost && <p className="notice">{t("login.sessionLost")}</p>}
        <label>
          {t("login.login")}
          <input
            data-testid="login-username"
            autoComplete="username"
            required
            autoFocus
            value={form.login}
            onChange={(e) => setForm({ ...form, login: e.target.value })}
          />
        </label>
        <label>
          {t("login.password")}
          <input
            data-testid="login-password"
            type="password"
            autoComplete="current-password"
            required
            value={form.password}
            onChange={(e) => setForm({ ...form, password: e.target.value })}
          />
        </label>
        <label>
          {t("login.organization")}
          <input
            data-testid="login-organization"
            autoComplete="organization"
            value={form.organization}
            onChange={(e) => setForm({ ...form, organization: e.target.value })}
          />
        </label>
        {error && (
          <p className="error" role="alert" data-testid="login-error">
            {error}
          </p>
        )}
        <button type="submit" className="primary" disabled={busy} data-testid="login-submit">
          {t("login.submit")}
        </button>
      </form>
    </main>
  );
}
