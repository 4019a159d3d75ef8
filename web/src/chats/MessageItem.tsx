import { lazy, memo, Suspense, useState } from "react";
import { useTranslation } from "react-i18next";
import type { Message, Role, User } from "../api";
import { formatDateTime, formatTime } from "../i18n";
import { displayName } from "./directory";
import { Proposals } from "./Proposals";

const Markdown = lazy(() => import("./Markdown"));

interface Props {
  message: Message;
  meId: string | undefined;
  canModerate: boolean;
  byId: Map<string, User>;
  role: Role | undefined;
  onEdit: (message: Message, content: string) => Promise<void>;
  onDelete: (message: Message) => void;
  onValidate: (message: Message, verdict: "validate" | "reject") => void;
  busy: boolean;
}

function MessageItemInner({ message, meId, canModerate, byId, role, onEdit, onDelete, onValidate, busy }: Props) {
  const { t } = useTranslation();
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState(message.content);
  const mine = message.kind === "user" && message.author_id === meId;
  const ai = message.kind === "ai";
  const author = ai ? role?.name ?? message.role_code ?? t("chats.ai") : mine ? t("chats.you") : displayName(byId.get(message.author_id ?? ""));
  const status = message.ai_status;

  return (
    <li
      className={`message ${ai ? "ai" : mine ? "mine" : "other"}`}
      data-testid="message"
      data-message-id={message.id}
      data-kind={message.kind}
      data-ai-status={status ?? undefined}
    >
      <div className="message-head">
        <strong data-testid="message-author">{author}</strong>
        {ai && message.role_code && <span className="muted small">@@{message.role_code}</span>}
        <time className="muted small" dateTime={message.created_at} title={formatDateTime(message.created_at)}>
          {formatTime(message.created_at)}
        </time>
        {message.is_edited && <span className="muted small">({t("chats.edited")})</span>}
        {ai && status && (
          <span className={`status status-${status}`} data-testid="ai-status" data-status={status}>
            {t(`message.status.${status}`)}
          </span>
        )}
      </div>
      {editing ? (
        <form
          className="edit-form"
          onSubmit={(e) => {
            e.preventDefault();
            void onEdit(message, draft).then(() => setEditing(false));
          }}
        >
          <label className="sr-only" htmlFor={`edit-${message.id}`}>
            {t("composer.label")}
          </label>
          <textarea
            id={`edit-${message.id}`}
            data-testid="message-edit-input"
            value={draft}
            autoFocus
            onChange={(e) => setDraft(e.target.value)}
            onKeyDown={(e) => e.key === "Escape" && setEditing(false)}
          />
          <div className="row">
            <button type="button" onClick={() => setEditing(false)}>
              {t("common.cancel")}
            </button>
            <button className="primary" data-testid="message-edit-save" disabled={!draft.trim() || busy}>
              {t("common.save")}
            </button>
          </div>
        </form>
      ) : ai ? (
        <div className="message-body" data-testid="message-content">
          {message.content && (
            <Suspense fallback={<p className="plain">{message.content}</p>}>
              <Markdown text={message.content} />
            </Suspense>
          )}
          {status === "running" && <span className="cursor" aria-hidden="true" />}
        </div>
      ) : (
        <p className="message-body plain" data-testid="message-content">
          {message.content}
        </p>
      )}
      {ai && status === "failed" && message.ai_error && (
        <p className="error small" data-testid="ai-error">
          {t("message.failedReason", { reason: message.ai_error })}
        </p>
      )}
      {ai && status === "done" && <Proposals chatId={message.chat_id} message={message} byId={byId} />}
      {ai && status === "done" && (
        <div className="validation" data-testid="validation">
          {message.validation ? (
            <span className={`verdict ${message.validation}`} data-testid="validation-info" data-validation={message.validation}>
              {t(message.validation === "validated" ? "message.validatedBy" : "message.rejectedBy", {
                name: displayName(byId.get(message.validated_by ?? "")),
                when: formatDateTime(message.validated_at),
              })}
            </span>
          ) : (
            <>
              <span className="muted small">{t("message.needsValidation")}</span>
              <button type="button" data-testid="validate-button" disabled={busy} onClick={() => onValidate(message, "validate")}>
                ✓ {t("message.validate")}
              </button>
              <button type="button" data-testid="reject-button" disabled={busy} onClick={() => onValidate(message, "reject")}>
                ✗ {t("message.reject")}
              </button>
            </>
          )}
        </div>
      )}
      {!editing && (mine || (canModerate && !ai)) && (
        <div className="message-actions" aria-label={t("message.actions")}>
          {mine && (
            <button
              type="button"
              className="link-button small"
              data-testid="message-edit"
              onClick={() => {
                setDraft(message.content);
                setEditing(true);
              }}
            >
              {t("common.edit")}
            </button>
          )}
          <button type="button" className="link-button small" data-testid="message-delete" onClick={() => onDelete(message)}>
            {t("common.delete")}
          </button>
        </div>
      )}
    </li>
  );
}

export const MessageItem = memo(MessageItemInner);
