import { useMemo } from "react";
import { useQuery } from "@tanstack/react-query";
import { roles, users, type Chat, type Role, type User } from "../api";

/** Colleagues of the organization (GET /users), by id. */
export function useDirectory() {
  const query = useQuery({ queryKey: ["users"], queryFn: () => users.list(), staleTime: 60_000 });
  const byId = useMemo(() => new Map<string, User>((query.data ?? []).map((u) => [u.id, u])), [query.data]);
  return { users: query.data ?? [], byId };
}

export function useRoles() {
  const query = useQuery({ queryKey: ["roles"], queryFn: roles.list, staleTime: 300_000 });
  const byCode = useMemo(() => new Map<string, Role>((query.data ?? []).map((r) => [r.code, r])), [query.data]);
  const list = useMemo(() => query.data ?? [], [query.data]);
  return { roles: list, byCode };
}

export const displayName = (user: User | undefined, fallback = "—"): string =>
  user ? user.full_name || user.username : fallback;

/** A chat's title; a direct chat is named after the other person. */
export function chatTitle(chat: Chat, me: string | undefined, byId: Map<string, User>, untitled: string): string {
  if (chat.kind === "direct") {
    const other = chat.member_ids.find((id) => id !== me);
    return displayName(other ? byId.get(other) : undefined, chat.title || untitled);
  }
  return chat.title || untitled;
}
