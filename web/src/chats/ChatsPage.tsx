import { useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { Link, Outlet, useParams } from "react-router";
import { chats } from "../api";
import { useCurrentUser } from "../auth/session";
import { formatTime } from "../i18n";
import { chatTitle, useDirectory, useRoles } from "./directory";
import { NewChatDialog } from "./NewChatDialog";
import { markdownPreview } from "./preview";

export function ChatsPage() {
  const { t } = useTranslation();
  const { chatId } = useParams();
  const me = useCurrentUser();
  const { byId } = useDirectory();
  const { byCode: roleByCode } = useRoles();
  const [showArchived, setShowArchived] = useState(false);
  const [creating, setCreating] = useState(false);
  const list = useQuery({
    queryKey: ["chats", { showArchived }],
    queryFn: () => chats.list(showArchived),
    refetchInterval: 20_000,
  });

  return (
    <div className={chatId ? "chats has-chat" : "chats"}>
      <aside className="chat-list" aria-label={t("chats.title")}>
        <div className="chat-list-head">
          <h1>{t("chats.title")}</h1>
          <button type="button" className="primary" data-testid="new-chat" onClick={() => setCreating(true)}>
            + {t("chats.new")}
          </button>
        </div>
        <label className="inline">
          <input type="checkbox" checked={showArchived} onChange={(e) => setShowArchived(e.target.checked)} />
          {t("chats.showArchived")}
        </label>
        {list.isPending && <p className="muted">{t("common.loading")}</p>}
        {list.data?.length === 0 && <p className="muted">{t("chats.noChats")}</p>}
        <ul data-testid="chat-list">
          {list.data?.map((chat) => {
            const unread = chat.unread_count ?? 0;
            const last = chat.last_message;
            const lastAuthor =
              last?.kind === "ai" ? (last.role_code ? roleByCode.get(last.role_code)?.name || `@@${last.role_code}` : t("chats.ai")) : last?.author_id === me?.id ? t("chats.you") : byId.get(last?.author_id ?? "")?.full_name || byId.get(last?.author_id ?? "")?.username;
            return (
              <li key={chat.id}>
                <Link
                  to={`/chats/${chat.id}`}
                  className={chat.id === chatId ? "chat-item active" : "chat-item"}
                  aria-current={chat.id === chatId ? "page" : undefined}
                  data-testid="chat-list-item"
                  data-chat-id={chat.id}
                >
                  <span className="chat-item-top">
                    <span className="chat-item-title">
                      {chatTitle(chat, me?.id, byId, t("chats.untitled"))}
                      {chat.is_archived && <span className="tag">{t("chats.archived")}</span>}
                    </span>
                    {last && <time className="muted small">{formatTime(last.created_at)}</time>}
                  </span>
                  <span className="chat-item-bottom">
                    <span className="chat-item-last muted" data-testid="chat-last-message">
                      {last ? `${lastAuthor ? `${lastAuthor}: ` : ""}${(last.kind === "ai" ? markdownPreview(last.content) : last.content) || (last.kind === "ai" ? t("chats.aiPending") : "")}` : ""}
                    </span>
                    {unread > 0 && (
                      <span className="badge" data-testid="chat-unread" aria-label={t("chats.unread", { count: unread })}>
                        {unread}
                      </span>
                    )}
                  </span>
                </Link>
              </li>
            );
          })}
        </ul>
      </aside>
      <section className="chat-pane">
        {chatId ? <Outlet /> : <p className="muted center">{t("chats.selectChat")}</p>}
      </section>
      {creating && <NewChatDialog onClose={() => setCreating(false)} />}
    </div>
  );
}
