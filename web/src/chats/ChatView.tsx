import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { Link, useParams } from "react-router";
import { ApiError, chats, humanError, type Chat, type Message, type PostedMessage } from "../api";
import { isAdmin, useCurrentUser } from "../auth/session";
import { NotFound } from "../shell/NotFound";
import { ChatSettings } from "./ChatSettings";
import { Composer } from "./Composer";
import { chatTitle, displayName, useDirectory, useRoles } from "./directory";
import { MessageItem } from "./MessageItem";
import { useChatMessages } from "./useChatMessages";

export default function ChatView() {
  const { chatId = "" } = useParams();
  return <ChatViewFor key={chatId} chatId={chatId} />;
}

function ChatViewFor({ chatId }: { chatId: string }) {
  const { t } = useTranslation();
  const me = useCurrentUser();
  const queryClient = useQueryClient();
  const { byId } = useDirectory();
  const { roles, byCode } = useRoles();
  const chat = useQuery({ queryKey: ["chat", chatId], queryFn: () => chats.get(chatId), retry: false });
  const data = useChatMessages(chatId);
  const [showSettings, setShowSettings] = useState(false);
  const [busyId, setBusyId] = useState<number | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  const listRef = useRef<HTMLOListElement>(null);
  const stick = useRef(true);
  const previous = useRef<{ firstId?: number; height: number }>({ height: 0 });
  const readSent = useRef<number>(0);
  const { messages, upsert, remove, loadOlder, nextBeforeId, loadingOlder } = data;

  const newest = messages.length ? messages[messages.length - 1].id : null;

  // Keep the view at the bottom while new text arrives; keep the place when older pages come in.
  useLayoutEffect(() => {
    const el = listRef.current;
    if (!el) return;
    const firstId = messages[0]?.id;
    const prev = previous.current;
    if (prev.firstId !== undefined && firstId !== undefined && firstId < prev.firstId) {
      el.scrollTop += el.scrollHeight - prev.height;
    } else if (stick.current) {
      el.scrollTop = el.scrollHeight;
    }
    previous.current = { firstId, height: el.scrollHeight };
  }, [messages]);

  // Mark what is on screen as read (only while the page is visible).
  useEffect(() => {
    const markRead = () => {
      if (newest === null || document.visibilityState !== "visible" || newest <= readSent.current) return;
      const known = chat.data?.last_read_message_id ?? 0;
      readSent.current = newest;
      if (newest <= known) return;
      chats
        .markRead(chatId, newest)
        .then(() => {
          queryClient.setQueriesData<Chat[]>({ queryKey: ["chats"] }, (list) =>
            list?.map((c) => (c.id === chatId ? { ...c, unread_count: 0, last_read_message_id: newest } : c)),
          );
        })
        .catch(() => {
          readSent.current = 0;
        });
    };
    markRead();
    document.addEventListener("visibilitychange", markRead);
    return () => document.removeEventListener("visibilitychange", markRead);
  }, [newest, chatId, chat.data?.last_read_message_id, queryClient]);

  // The chat list shows the last message: refresh it when a new one arrives here.
  useEffect(() => {
    if (newest !== null) void queryClient.invalidateQueries({ queryKey: ["chats"] });
  }, [newest, queryClient]);

  useEffect(() => {
    if (data.streamState === "revoked") void queryClient.invalidateQueries({ queryKey: ["chats"] });
  }, [data.streamState, queryClient]);

  const onScroll = () => {
    const el = listRef.current;
    if (!el) return;
    stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
    if (el.scrollTop < 60 && nextBeforeId !== null && !loadingOlder) void loadOlder();
  };

  const onPosted = useCallback(
    (posted: PostedMessage) => {
      stick.current = true;
      upsert([posted.message]);
      void queryClient.invalidateQueries({ queryKey: ["chats"] });
    },
    [upsert, queryClient],
  );

  const onEdit = useCallback(
    async (message: Message, content: string) => {
      setActionError(null);
      try {
        upsert([await chats.edit(chatId, message.id, content)]);
      } catch (error) {
        setActionError(humanError(error, t));
        throw error;
      }
    },
    [chatId, upsert, t],
  );

  const onDelete = useCallback(
    (message: Message) => {
      if (!window.confirm(t("chats.confirmDelete"))) return;
      setActionError(null);
      chats
        .remove(chatId, message.id)
        .then(() => remove(message.id))
        .catch((error: unknown) => setActionError(humanError(error, t)));
    },
    [chatId, remove, t],
  );

  const onValidate = useCallback(
    (message: Message, verdict: "validate" | "reject") => {
      setBusyId(message.id);
      setActionError(null);
      (verdict === "validate" ? chats.validate(chatId, message.id) : chats.reject(chatId, message.id))
        .then((updated) => upsert([updated]))
        .catch((error: unknown) => setActionError(humanError(error, t)))
        .finally(() => setBusyId(null));
    },
    [chatId, upsert, t],
  );

  const memberIds = chat.data?.member_ids;
  const people = useMemo(
    () =>
      (memberIds ?? [])
        .filter((id) => id !== me?.id)
        .map((id) => byId.get(id))
        .filter((u) => u !== undefined)
        .map((u) => ({ value: u.username, label: u.full_name ?? "" })),
    [memberIds, byId, me?.id],
  );
  const roleCandidates = useMemo(() => roles.map((r) => ({ value: r.code, label: r.name })), [roles]);

  // 404: not a member or another organization's chat; 422: not even a chat id.
  const missing = (error: unknown) => error instanceof ApiError && (error.status === 404 || error.status === 422);
  const notFound = missing(chat.error) || missing(data.loadError);
  if (notFound) return <NotFound />;

  const title = chat.data ? chatTitle(chat.data, me?.id, byId, t("chats.untitled")) : "";
  const streamText = t(`chats.stream.${data.streamState}`);

  return (
    <div className="chat-view" data-testid="chat-view" data-chat-id={chatId} data-stream-state={data.streamState}>
      <header className="chat-head">
        <Link to="/chats" className="back-link" aria-label={t("common.back")}>
          ←
        </Link>
        <div className="chat-head-title">
          <h2 data-testid="chat-title">{title}</h2>
          {chat.data && (
            <span className="muted small">
              {chat.data.member_ids.map((id) => displayName(byId.get(id))).join(", ")}
            </span>
          )}
        </div>
        <span className={`stream-state ${data.streamState}`} role="status" data-testid="stream-state">
          {streamText}
        </span>
        <button
          type="button"
          aria-expanded={showSettings}
          data-testid="chat-settings-toggle"
          aria-label={t("chats.settings")}
          title={t("chats.settings")}
          onClick={() => setShowSettings(!showSettings)}
        >
          ⚙
        </button>
      </header>
      {showSettings && chat.data && <ChatSettings chat={chat.data} onClose={() => setShowSettings(false)} />}
      {data.revokedReason !== null && (
        <p className="banner" role="alert" data-testid="access-revoked">
          {t("chats.stream.revoked")}
        </p>
      )}
      {actionError && (
        <p className="error" role="alert" data-testid="chat-action-error">
          {actionError}
        </p>
      )}
      {data.loadError !== null && !notFound && (
        <div className="banner" role="alert">
          <span>{humanError(data.loadError, t)}</span>
          <button type="button" onClick={() => void data.reload()}>
            {t("common.retry")}
          </button>
        </div>
      )}
      <ol className="messages" ref={listRef} onScroll={onScroll} data-testid="message-list">
        <li className="older">
          {nextBeforeId !== null ? (
            <button type="button" data-testid="load-older" disabled={loadingOlder} onClick={() => void loadOlder()}>
              {loadingOlder ? t("common.loading") : t("chats.loadOlder")}
            </button>
          ) : (
            data.loaded && <span className="muted small">{messages.length ? t("chats.noMore") : t("chats.noMessages")}</span>
          )}
        </li>
        {messages.map((message) => (
          <MessageItem
            key={message.id}
            message={message}
            meId={me?.id}
            canModerate={isAdmin(me)}
            byId={byId}
            role={message.role_code ? byCode.get(message.role_code) : undefined}
            onEdit={onEdit}
            onDelete={onDelete}
            onValidate={onValidate}
            busy={busyId === message.id}
          />
        ))}
      </ol>
      <Composer
        key={chatId}
        chatId={chatId}
        people={people}
        roles={roleCandidates}
        disabled={chat.data?.is_archived || data.revokedReason !== null}
        onPosted={onPosted}
      />
    </div>
  );
}
