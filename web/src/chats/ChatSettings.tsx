import { useState, type FormEvent } from "react";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { useNavigate } from "react-router";
import { chats, humanError, type Chat } from "../api";
import { useCurrentUser } from "../auth/session";
import { displayName, useDirectory } from "./directory";

/** Rename, members, archive: the owner's and admins' controls of a chat. */
export function ChatSettings({ chat, onClose }: { chat: Chat; onClose: () => void }) {
  const { t } = useTranslation();
  const me = useCurrentUser();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const { users, byId } = useDirectory();
  const [title, setTitle] = useState(chat.title ?? "");
  const [newMember, setNewMember] = useState("");
  const refresh = (updated?: Chat) => {
    if (updated) queryClient.setQueryData(["chat", chat.id], updated);
    void queryClient.invalidateQueries({ queryKey: ["chat", chat.id] });
    void queryClient.invalidateQueries({ queryKey: ["chats"] });
  };
  const rename = useMutation({ mutationFn: () => chats.rename(chat.id, title.trim()), onSuccess: refresh });
  const add = useMutation({
    mutationFn: (userId: string) => chats.addMember(chat.id, userId),
    onSuccess: (c) => {
      setNewMember("");
      refresh(c);
    },
  });
  const removeMember = useMutation({
    mutationFn: (userId: string) => chats.removeMember(chat.id, userId),
    onSuccess: (_r, userId) => {
      if (userId === me?.id) navigate("/chats");
      refresh();
    },
  });
  const archive = useMutation({
    mutationFn: async () => {
      if (chat.is_archived) await chats.unarchive(chat.id);
      else await chats.archive(chat.id);
    },
    onSuccess: () => refresh(),
  });
  const error = rename.error ?? add.error ?? removeMember.error ?? archive.error;
  const group = chat.kind === "group";
  const outsiders = users.filter((u) => u.is_active && !chat.member_ids.includes(u.id));

  return (
    <section className="card chat-settings" data-testid="chat-settings" aria-label={t("chats.settings")}>
      {group && (
        <form
          className="row"
          onSubmit={(e: FormEvent) => {
            e.preventDefault();
            if (title.trim()) rename.mutate();
          }}
        >
          <label className="grow">
            {t("chats.chatTitle")}
            <input data-testid="chat-rename-input" value={title} onChange={(e) => setTitle(e.target.value)} />
          </label>
          <button data-testid="chat-rename-save" disabled={rename.isPending}>
            {t("chats.rename")}
          </button>
        </form>
      )}
      <h3>{t("chats.members")}</h3>
      <ul className="members" data-testid="chat-members">
        {chat.member_ids.map((id) => (
          <li key={id} data-testid="chat-member" data-user-id={id}>
            {displayName(byId.get(id))}
            {group && (
              <button type="button" className="link-button small" onClick={() => removeMember.mutate(id)}>
                {id === me?.id ? t("chats.leave") : t("chats.removeMember")}
              </button>
            )}
          </li>
        ))}
      </ul>
      {group && (
        <form
          className="row"
          onSubmit={(e: FormEvent) => {
            e.preventDefault();
            if (newMember) add.mutate(newMember);
          }}
        >
          <label className="grow">
            {t("chats.addMember")}
            <select data-testid="chat-add-member" value={newMember} onChange={(e) => setNewMember(e.target.value)}>
              <option value="">—</option>
              {outsiders.map((u) => (
                <option key={u.id} value={u.id}>
                  {displayName(u)} (@{u.username})
                </option>
              ))}
            </select>
          </label>
          <button data-testid="chat-add-member-submit" disabled={!newMember || add.isPending}>
            {t("common.create")}
          </button>
        </form>
      )}
      {error && <p className="error" role="alert">{humanError(error, t)}</p>}
      <div className="row">
        <button type="button" data-testid="chat-archive" onClick={() => archive.mutate()}>
          {chat.is_archived ? t("chats.unarchive") : t("chats.archive")}
        </button>
        <button type="button" onClick={onClose}>
          {t("common.close")}
        </button>
      </div>
    </section>
  );
}
