import { useEffect, useId, useRef, useState, type KeyboardEvent } from "react";
import { useTranslation } from "react-i18next";
import { chats, humanError, type PostedMessage, type UnresolvedMention } from "../api";
import { filterCandidates, insertMention, mentionAt, moveHighlight, type Candidate, type MentionToken } from "./mentions";

interface Props {
  chatId: string;
  people: Candidate[];
  roles: Candidate[];
  disabled?: boolean;
  onPosted: (posted: PostedMessage) => void;
}

const draftKey = (chatId: string) => `rugpt.draft.${chatId}`;

/**
 * The message box. The text stays (also across reloads, as a draft) until the server accepted
 * the post; `@` and `@@` open a keyboard-driven list of chat members and roles.
 */
export function Composer({ chatId, people, roles, disabled, onPosted }: Props) {
  const { t } = useTranslation();
  const listId = useId();
  const ref = useRef<HTMLTextAreaElement>(null);
  const [text, setText] = useState(() => localStorage.getItem(draftKey(chatId)) ?? "");
  const [token, setToken] = useState<MentionToken | null>(null);
  const [highlight, setHighlight] = useState(0);
  const [sending, setSending] = useState(false);
  const [failure, setFailure] = useState<string | null>(null);
  const [unresolved, setUnresolved] = useState<UnresolvedMention[]>([]);

  useEffect(() => {
    if (text) localStorage.setItem(draftKey(chatId), text);
    else localStorage.removeItem(draftKey(chatId));
  }, [chatId, text]);

  const suggestions = token ? filterCandidates(token.kind === "role" ? roles : people, token.query) : [];
  const open = token !== null && suggestions.length > 0;

  function track(value: string, caret: number) {
    const found = mentionAt(value, caret);
    setToken(found);
    if (found?.query !== token?.query || found?.kind !== token?.kind) setHighlight(0);
  }

  function choose(candidate: Candidate) {
    if (!token) return;
    const result = insertMention(text, token, candidate.value);
    setText(result.text);
    setToken(null);
    requestAnimationFrame(() => {
      ref.current?.focus();
      ref.current?.setSelectionRange(result.caret, result.caret);
    });
  }

  async function send() {
    const content = text.trim();
    if (!content || sending) return;
    setSending(true);
    setFailure(null);
    try {
      const posted = await chats.post(chatId, content);
      setText("");
      setUnresolved(posted.unresolved_mentions ?? []);
      onPosted(posted);
    } catch (error) {
      setFailure(humanError(error, t));
    } finally {
      setSending(false);
    }
  }

  function onKeyDown(event: KeyboardEvent<HTMLTextAreaElement>) {
    if (open) {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        setHighlight(moveHighlight(highlight, suggestions.length, event.key));
        return;
      }
      if (event.key === "Enter" || event.key === "Tab") {
        event.preventDefault();
        choose(suggestions[Math.min(highlight, suggestions.length - 1)]);
        return;
      }
      if (event.key === "Escape") {
        event.preventDefault();
        setToken(null);
        return;
      }
    }
    if (event.key === "Enter" && !event.shiftKey && !event.nativeEvent.isComposing) {
      event.preventDefault();
      void send();
    }
  }

  return (
    <div className="composer" data-testid="composer">
      {failure && (
        <div className="banner inline-banner" role="alert" data-testid="composer-error">
          <span>{t("composer.failed", { reason: failure })}</span>
          <button type="button" data-testid="composer-retry" onClick={() => void send()}>
            {t("common.retry")}
          </button>
        </div>
      )}
      {unresolved.length > 0 && (
        <div className="notice" role="status" data-testid="unresolved-mentions">
          {t("composer.unresolved")}{" "}
          {unresolved.map((m, i) => (
            <span key={`${m.text}-${i}`} data-testid="unresolved-mention">
              {i > 0 && ", "}
              <code>{m.text}</code> — {t(`composer.reason.${m.reason}`)}
            </span>
          ))}
          <button type="button" className="icon-button" aria-label={t("common.close")} onClick={() => setUnresolved([])}>
            ×
          </button>
        </div>
      )}
      {open && (
        <ul className="suggestions" id={listId} role="listbox" aria-label={t("composer.suggestions")} data-testid="mention-suggestions">
          {suggestions.map((candidate, index) => (
            <li
              key={candidate.value}
              id={`${listId}-${index}`}
              role="option"
              aria-selected={index === highlight}
              className={index === highlight ? "active" : undefined}
              data-testid="mention-option"
              data-value={candidate.value}
              onMouseDown={(e) => {
                e.preventDefault();
                choose(candidate);
              }}
            >
              <strong>
                {token?.kind === "role" ? "@@" : "@"}
                {candidate.value}
              </strong>{" "}
              <span className="muted">{candidate.label}</span>
            </li>
          ))}
        </ul>
      )}
      <div className="composer-row">
        <label htmlFor={`${listId}-input`} className="sr-only">
          {t("composer.label")}
        </label>
        <textarea
          id={`${listId}-input`}
          ref={ref}
          data-testid="composer-input"
          rows={2}
          value={text}
          disabled={disabled}
          placeholder={t("composer.placeholder")}
          aria-autocomplete="list"
          aria-controls={open ? listId : undefined}
          aria-expanded={open}
          aria-activedescendant={open ? `${listId}-${highlight}` : undefined}
          onChange={(e) => {
            setText(e.target.value);
            track(e.target.value, e.target.selectionStart);
          }}
          onSelect={(e) => track(e.currentTarget.value, e.currentTarget.selectionStart)}
          onKeyDown={onKeyDown}
          onBlur={() => setToken(null)}
        />
        <button
          type="button"
          className="primary"
          data-testid="composer-send"
          disabled={disabled || sending || !text.trim()}
          onClick={() => void send()}
        >
          {sending ? t("composer.sending") : t("composer.send")}
        </button>
      </div>
      <p className="muted small hint">{t("composer.hint")}</p>
    </div>
  );
}
