import { useSyncExternalStore } from "react";
import { api, auth, type User } from "../api";
import { queryClient } from "../shell/queryClient";

const USER_KEY = "rugpt.user";

type Listener = () => void;
const listeners = new Set<Listener>();
let current: User | null = readUser();
let lost = false;

function readUser(): User | null {
  if (!api.tokens.refresh()) return null;
  try {
    const raw = localStorage.getItem(USER_KEY);
    return raw ? (JSON.parse(raw) as User) : null;
  } catch {
    return null;
  }
}

function emit(): void {
  for (const listener of listeners) listener();
}

export function setUser(user: User | null): void {
  const previous = current;
  current = user;
  if (user) localStorage.setItem(USER_KEY, JSON.stringify(user));
  else localStorage.removeItem(USER_KEY);
  if (!user || (previous && previous.id !== user.id)) {
    // Nothing of one person's session stays for the next one in this browser.
    queryClient.clear();
  }
  emit();
}

/** The logged-in user (null when logged out); re-renders on login, logout and a lost session. */
export function useCurrentUser(): User | null {
  return useSyncExternalStore(
    (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    () => current,
  );
}

export function currentUser(): User | null {
  return current;
}

/** True once after the session was lost (shown on the login page). */
export function takeSessionLost(): boolean {
  const value = lost;
  lost = false;
  return value;
}

api.onAuthLost = () => {
  lost = true;
  setUser(null);
};

export async function login(body: { login: string; password: string; organization?: string }): Promise<User> {
  const response = await auth.login(body);
  api.tokens.set(response);
  lost = false;
  setUser(response.user);
  return response.user;
}

export async function logout(): Promise<void> {
  const refreshToken = api.tokens.refresh();
  api.tokens.clear();
  // Drafts survive a lost session (log in again and go on), not a deliberate logout.
  for (const key of Object.keys(localStorage)) if (key.startsWith("rugpt.draft.")) localStorage.removeItem(key);
  setUser(null);
  if (refreshToken) await auth.logout(refreshToken).catch(() => undefined);
}

export const isAdmin = (user: User | null): boolean => user?.role === "admin" || user?.role === "system_admin";
export const isSystemAdmin = (user: User | null): boolean => user?.role === "system_admin";
