import { useState, type ChangeEvent, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { documents, humanError } from "../api";
import { useCurrentUser } from "../auth/session";
import { formatDateTime } from "../i18n";

export default function DocumentsPage() {
  const { t } = useTranslation();
  const me = useCurrentUser();
  const orgId = me?.org_id ?? "";
  const queryClient = useQueryClient();
  const list = useQuery({ queryKey: ["documents", orgId], queryFn: () => documents.list(orgId), enabled: !!orgId });
  const [form, setForm] = useState({ title: "", content: "" });
  const refresh = () => void queryClient.invalidateQueries({ queryKey: ["documents", orgId] });
  const create = useMutation({
    mutationFn: () => documents.create(orgId, form.title.trim(), form.content),
    onSuccess: () => {
      setForm({ title: "", content: "" });
      refresh();
    },
  });
  const remove = useMutation({ mutationFn: (id: string) => documents.remove(orgId, id), onSuccess: refresh });
  const error = create.error ?? remove.error;

  async function onFile(e: ChangeEvent<HTMLInputElement>) {
    const file = e.target.files?.[0];
    if (!file) return;
    const content = await file.text();
    setForm((f) => ({ title: f.title || file.name.replace(/\.(txt|md|markdown)$/i, ""), content }));
  }

  function submit(e: FormEvent) {
    e.preventDefault();
    create.mutate();
  }

  return (
    <div className="page" data-testid="documents-page">
      <h1>{t("admin.documents")}</h1>
      <form className="card form" onSubmit={submit} data-testid="document-form">
        <h2>{t("admin.newDocument")}</h2>
        <label>
          {t("admin.docTitle")}
          <input data-testid="document-title" required value={form.title} onChange={(e) => setForm({ ...form, title: e.target.value })} />
        </label>
        <label>
          {t("admin.docFile")}
          <input type="file" accept=".txt,.md,.markdown,text/plain,text/markdown" data-testid="document-file" onChange={(e) => void onFile(e)} />
        </label>
        <label>
          {t("admin.docContent")}
          <textarea data-testid="document-content" required rows={6} maxLength={500000} value={form.content} onChange={(e) => setForm({ ...form, content: e.target.value })} />
        </label>
        <div className="row">
          <button className="primary" data-testid="document-submit" disabled={create.isPending}>
            {t("common.create")}
          </button>
        </div>
      </form>
      {error && (
        <p className="error" role="alert">
          {humanError(error, t)}
        </p>
      )}
      <div className="table-wrap">
        <table className="cards-on-phone" data-testid="document-list">
          <thead>
            <tr>
              <th>{t("admin.docTitle")}</th>
              <th>{t("admin.created")}</th>
              <th>{t("common.actions")}</th>
            </tr>
          </thead>
          <tbody>
            {(list.data ?? []).map((doc) => (
              <tr key={doc.id} data-testid="document-item" data-document-id={doc.id}>
                <td data-label={t("admin.docTitle")}>
                  {doc.title}
                  {doc.chunks !== undefined && <span className="muted small"> · {t("admin.chunks", { count: doc.chunks })}</span>}
                </td>
                <td data-label={t("admin.created")} className="small">{formatDateTime(doc.created_at)}</td>
                <td>
                  <button
                    type="button"
                    className="danger"
                    data-testid="document-delete"
                    onClick={() => window.confirm(t("common.confirmDelete")) && remove.mutate(doc.id)}
                  >
                    {t("common.delete")}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {list.data?.length === 0 && <p className="muted">{t("common.empty")}</p>}
    </div>
  );
}
