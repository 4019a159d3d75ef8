import { useState, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { humanError, organizations, type Organization } from "../api";
import { formatDateTime } from "../i18n";

const emptyForm = { slug: "", name: "", admin_username: "", admin_password: "", admin_full_name: "", admin_email: "" };

export default function OrganizationsPage() {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const list = useQuery({ queryKey: ["organizations"], queryFn: organizations.list });
  const [form, setForm] = useState(emptyForm);
  const set = (patch: Partial<typeof emptyForm>) => setForm((f) => ({ ...f, ...patch }));
  const refresh = () => void queryClient.invalidateQueries({ queryKey: ["organizations"] });
  const create = useMutation({
    mutationFn: () =>
      organizations.create({
        slug: form.slug.trim(),
        name: form.name.trim(),
        admin: form.admin_username.trim()
          ? {
              username: form.admin_username.trim(),
              password: form.admin_password,
              full_name: form.admin_full_name.trim() || undefined,
              email: form.admin_email.trim() || undefined,
            }
          : undefined,
      }),
    onSuccess: () => {
      setForm(emptyForm);
      refresh();
    },
  });
  const toggle = useMutation({
    mutationFn: (org: Organization) => organizations.setActive(org.id, !org.is_active),
    onSuccess: refresh,
  });
  const error = create.error ?? toggle.error;

  function submit(e: FormEvent) {
    e.preventDefault();
    create.mutate();
  }

  return (
    <div className="page" data-testid="organizations-page">
      <h1>{t("admin.organizations")}</h1>
      <form className="card form" onSubmit={submit} data-testid="org-form">
        <h2>{t("admin.newOrg")}</h2>
        <div className="row">
          <label className="grow">
            {t("admin.slug")}
            <input data-testid="org-slug" required pattern="[a-z0-9][a-z0-9-]{1,63}" value={form.slug} onChange={(e) => set({ slug: e.target.value })} />
          </label>
          <label className="grow">
            {t("admin.orgName")}
            <input data-testid="org-name" required value={form.name} onChange={(e) => set({ name: e.target.value })} />
          </label>
        </div>
        <fieldset className="form">
          <legend>{t("admin.firstAdmin")}</legend>
          <div className="row">
            <label className="grow">
              {t("admin.username")}
              <input data-testid="org-admin-username" autoComplete="off" value={form.admin_username} onChange={(e) => set({ admin_username: e.target.value })} />
            </label>
            <label className="grow">
              {t("admin.password")}
              <input
                data-testid="org-admin-password"
                type="password"
                autoComplete="new-password"
                minLength={8}
                required={!!form.admin_username}
                value={form.admin_password}
                onChange={(e) => set({ admin_password: e.target.value })}
              />
            </label>
          </div>
          <div className="row">
            <label className="grow">
              {t("admin.fullName")}
              <input data-testid="org-admin-full-name" value={form.admin_full_name} onChange={(e) => set({ admin_full_name: e.target.value })} />
            </label>
            <label className="grow">
              {t("admin.email")}
              <input data-testid="org-admin-email" type="email" value={form.admin_email} onChange={(e) => set({ admin_email: e.target.value })} />
            </label>
          </div>
        </fieldset>
        <div className="row">
          <button className="primary" data-testid="org-submit" disabled={create.isPending}>
            {t("common.create")}
          </button>
        </div>
      </form>
      {error && (
        <p className="error" role="alert" data-testid="org-error">
          {humanError(error, t)}
        </p>
      )}
      <div className="table-wrap">
        <table className="cards-on-phone" data-testid="org-list">
          <thead>
            <tr>
              <th>{t("admin.slug")}</th>
              <th>{t("admin.orgName")}</th>
              <th>{t("admin.active")}</th>
              <th>{t("admin.created")}</th>
              <th>{t("common.actions")}</th>
            </tr>
          </thead>
          <tbody>
            {(list.data ?? []).map((org) => (
              <tr key={org.id} data-testid="org-item" data-slug={org.slug} data-active={org.is_active}>
                <td data-label={t("admin.slug")}>{org.slug}</td>
                <td data-label={t("admin.orgName")}>{org.name}</td>
                <td data-label={t("admin.active")}>{org.is_active ? t("admin.active") : <span className="muted">{t("admin.inactive")}</span>}</td>
                <td data-label={t("admin.created")} className="small">{formatDateTime(org.created_at)}</td>
                <td>
                  {org.slug !== "system" && (
                    <button type="button" data-testid="org-toggle-active" onClick={() => toggle.mutate(org)}>
                      {org.is_active ? t("admin.deactivate") : t("admin.activate")}
                    </button>
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
