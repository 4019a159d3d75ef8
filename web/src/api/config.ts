declare global {
  interface Window {
    RUGPT_CONFIG?: { apiBase?: string };
  }
}

/** The API base, read at run time from /config.js so one build serves every deployment. */
export function apiBase(): string {
  const configured = typeof window !== "undefined" ? window.RUGPT_CONFIG?.apiBase : undefined;
  const base = configured && configured.trim() ? configured.trim() : "/api/v1";
  return base.replace(/\/+$/, "");
}
