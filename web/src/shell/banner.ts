import { useSyncExternalStore } from "react";
import { ApiError } from "../api";

/** The retry banner: shown when a request failed on the network or with a 5xx. */
type Banner = { kind: "network" | "server"; retry: () => void } | null;

let banner: Banner = null;
const listeners = new Set<() => void>();

export function showBanner(error: unknown, retry: () => void): void {
  if (!(error instanceof ApiError) || !error.retryable) return;
  banner = { kind: error.status === 0 ? "network" : "server", retry };
  listeners.forEach((l) => l());
}

export function clearBanner(): void {
  if (banner === null) return;
  banner = null;
  listeners.forEach((l) => l());
}

export function useBanner(): Banner {
  return useSyncExternalStore(
    (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    () => banner,
  );
}
