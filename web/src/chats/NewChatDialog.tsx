import { useState, type FormEvent } from "react";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { useNavigate } from "react-router";
import { chats, humanError } from "../api";
import { useCurrentUser } from "../auth/session";
import { Dialog } from "../shell/Dialog";
import { displayName, useDirectory } from "./directory";

export function NewChatDialog({ onClose }: { onClose: () => void }) {
  const { t } = useTranslation();
  const me = useCurrentUser();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const { users } = useDirectory();
  const [kind, setKind] = useState<"group" | "direct">("group");
  const [title, setTitle] = useState("");
  const [search, setSearch] = useState("");
  const [picked, setPicked] = useState<string[]>([]);
  const create = useMutation({
    mutationFn: () => chats.create({ kind, title: kind === "group" ? title.trim() || undefined : undefined, member_ids: picked }),
    onSuccess: (chat) => {
      void queryClient.invalidateQueries({ queryKey: ["chats"] });
      onClose();
      navigate(`/chats/${chat.id}`);
    },
  });
  const q = search.trim().toLocaleLowerCase();
  const candidates = users.filter(
    (u) => u.id !== me?.id && u.is_active && (!q || `${u.username} ${u.full_name ?? ""}`.toLocaleLowerCase().includes(q)),
  );

  function toggle(id: string) {
    if (kind === "direct") setPicked([id]);
    else setPicked(picked.includes(id) ? picked.filter((p) => p !== id) : [...picked, id]);
  }

  function submit(event: FormEvent) {
    event.preventDefault();
    create.mutate();
  }

  return (
    <Dialog title={t("chats.new")} onClose={onClose} testId="new-chat-dialog">
      <form className="form" onSubmit={submit}>
        <fieldset className="radios">
          <legend>{t("chats.kind")}</legend>
          {(["group", "direct"] as const).map((k) => (
            <label key={k} className="inline">
              <input
                type="radio"
                name="kind"
                value={k}
                checked={kind === k}
                data-testid={`new-chat-kind-${k}`}
                onChange={() => {
                  setKind(k);
                  setPicked(k === "direct" ? picked.slice(0, 1) : picked);
                }}
              />
              {t(`chats.${k}`)}
            </label>
          ))}
        </fieldset>
        {kind === "group" && (
          <label>
            {t("chats.chatTitle")}
            <input data-testid="new-chat-title" value={title} onChange={(e) => setTitle(e.target.value)} />
          </label>
        )}
        <label>
          {t("chats.search")}
          <input type="search" data-testid="new-chat-search" value={search} onChange={(e) => setSearch(e.target.value)} />
        </label>
        <fieldset className="pick-list">
          <legend>{kind === "direct" ? t("chats.pickOne") : t("chats.pickMembers")}</legend>
          {candidates.map((u) => (
            <label key={u.id} className="inline">
              <input
                type={kind === "direct" ? "radio" : "checkbox"}
                name="member"
                checked={picked.includes(u.id)}
                onChange={() => toggle(u.id)}
                data-testid="new-chat-member"
                data-username={u.username}
              />
              {displayName(u)} <span className="muted">@{u.username}</span>
            </label>
          ))}
        </fieldset>
        {create.error && <p className="error" role="alert">{humanError(create.error, t)}</p>}
        <div className="row">
          <button type="button" onClick={onClose}>
            {t("common.cancel")}
          </button>
          <button
            type="submit"
            className="primary"
            data-testid="new-chat-submit"
            disabled={create.isPending || (kind === "direct" && picked.length !== 1)}
          >
            {t("common.create")}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
