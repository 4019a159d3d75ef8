import { useState, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { humanError, users, type User } from "../api";
import { useCurrentUser } from "../auth/session";
import { formatDateTime } from "../i18n";
import { Dialog } from "../shell/Dialog";

const emptyForm = { username: "", password: "", full_name: "", email: "", role: "user" };

export default function UsersPage() {
  const { t } = useTranslation();
  const me = useCurrentUser();
  const queryClient = useQueryClient();
  const list = useQuery({ queryKey: ["users"], queryFn: () => users.list() });
  const [form, setForm] = useState(emptyForm);
  const [notice, setNotice] = useState<string | null>(null);
  const [resetFor, setResetFor] = useState<User | null>(null);
  const [newPassword, setNewPassword] = useState("");
  const refresh = () => void queryClient.invalidateQueries({ queryKey: ["users"] });
  const create = useMutation({
    mutationFn: () =>
      users.create({
        username: form.username.trim(),
        password: form.password,
        full_name: form.full_name.trim() || undefined,
        email: form.email.trim() || undefined,
        role: form.role,
      }),
    onSuccess: (user) => {
      setForm(emptyForm);
      setNotice(`${t("common.saved")}: ${user.username}`);
      refresh();
    },
  });
  const toggle = useMutation({
    mutationFn: (user: User) => (user.is_active ? users.deactivate(user.id) : users.activate(user.id)),
    onSuccess: refresh,
  });
  const reset = useMutation({
    mutationFn: ({ user, password }: { user: User; password: string }) => users.resetPassword(user.id, password),
    onSuccess: () => {
      setResetFor(null);
      setNotice(t("admin.passwordReset"));
    },
  });
  const error = create.error ?? toggle.error;

  function submit(e: FormEvent) {
    e.preventDefault();
    setNotice(null);
    create.mutate();
  }

  return (
    <div className="page" data-testid="users-page">
      <h1>{t("admin.users")}</h1>
      <form className="card form" onSubmit={submit} data-testid="user-form">
        <h2>{t("admin.newUser")}</h2>
        <div className="row">
          <label className="grow">
            {t("admin.username")}
            <input data-testid="user-username" required minLength={2} maxLength={64} autoComplete="off" value={form.username} onChange={(e) => setForm({ ...form, username: e.target.value })} />
          </label>
          <label className="grow">
            {t("admin.password")}
            <input data-testid="user-password" type="password" required minLength={8} autoComplete="new-password" value={form.password} onChange={(e) => setForm({ ...form, password: e.target.value })} />
          </label>
        </div>
        <div className="row">
          <label className="grow">
            {t("admin.fullName")}
            <input data-testid="user-full-name" value={form.full_name} onChange={(e) => setForm({ ...form, full_name: e.target.value })} />
          </label>
          <label className="grow">
            {t("admin.email")}
            <input data-testid="user-email" type="email" value={form.email} onChange={(e) => setForm({ ...form, email: e.target.value })} />
          </label>
          <label>
            {t("admin.role")}
            <select data-testid="user-role" value={form.role} onChange={(e) => setForm({ ...form, role: e.target.value })}>
              <option value="user">{t("roles.user")}</option>
              <option value="admin">{t("roles.admin")}</option>
            </select>
          </label>
        </div>
        <div className="row">
          <button className="primary" data-testid="user-submit" disabled={create.isPending}>
            {t("common.create")}
          </button>
        </div>
      </form>
      {notice && (
        <p className="notice" role="status" data-testid="users-notice">
          {notice}
        </p>
      )}
      {error && (
        <p className="error" role="alert" data-testid="users-error">
          {humanError(error, t)}
        </p>
      )}
      {resetFor && (
        <Dialog title={t("admin.resetPassword")} onClose={() => setResetFor(null)} testId="reset-password-dialog">
          <form
            className="form"
            onSubmit={(e) => {
              e.preventDefault();
              reset.mutate({ user: resetFor, password: newPassword });
            }}
          >
            <label>
              {t("admin.newPassword", { name: resetFor.username })}
              <input
                type="password"
                autoComplete="new-password"
                required
                minLength={8}
                autoFocus
                data-testid="reset-password-input"
                value={newPassword}
                onChange={(e) => setNewPassword(e.target.value)}
              />
            </label>
            {reset.error && <p className="error">{humanError(reset.error, t)}</p>}
            <div className="row">
              <button type="button" onClick={() => setResetFor(null)}>
                {t("common.cancel")}
              </button>
              <button className="primary" data-testid="reset-password-submit" disabled={reset.isPending}>
                {t("common.save")}
              </button>
            </div>
          </form>
        </Dialog>
      )}
      <div className="table-wrap">
        <table className="cards-on-phone" data-testid="user-list">
          <thead>
            <tr>
              <th>{t("admin.username")}</th>
              <th>{t("admin.fullName")}</th>
              <th>{t("admin.email")}</th>
              <th>{t("admin.role")}</th>
              <th>{t("admin.active")}</th>
              <th>{t("admin.created")}</th>
              <th>{t("common.actions")}</th>
            </tr>
          </thead>
          <tbody>
            {(list.data ?? []).map((user) => (
              <tr key={user.id} data-testid="user-item" data-username={user.username} data-active={user.is_active}>
                <td data-label={t("admin.username")}>{user.username}</td>
                <td data-label={t("admin.fullName")}>{user.full_name}</td>
                <td data-label={t("admin.email")}>{user.email}</td>
                <td data-label={t("admin.role")}>{t(`roles.${user.role}`)}</td>
                <td data-label={t("admin.active")}>{user.is_active ? t("admin.active") : <span className="muted">{t("admin.inactive")}</span>}</td>
                <td data-label={t("admin.created")} className="small">{formatDateTime(user.created_at)}</td>
                <td>
                  {user.id !== me?.id && (
                    <div className="row">
                      <button type="button" data-testid="user-toggle-active" onClick={() => toggle.mutate(user)}>
                        {user.is_active ? t("admin.deactivate") : t("admin.activate")}
                      </button>
                      <button
                        type="button"
                        data-testid="user-reset-password"
                        onClick={() => {
                          setResetFor(user);
                          setNewPassword("");
                        }}
                      >
                        {t("admin.resetPassword")}
                      </button>
                    </div>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
