/** An API failure: `status` is the HTTP status (0 for a network failure), `detail` the body's detail. */
export class ApiError extends Error {
  readonly status: number;
  readonly detail: unknown;

  constructor(status: number, detail: unknown) {
    super(typeof detail === "string" ? detail : detailText(detail) || `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.detail = detail;
  }

  /** A network failure or a server error: worth retrying as it is. */
  get retryable(): boolean {
    return this.status === 0 || this.status >= 500;
  }
}

function detailText(detail: unknown): string {
  if (Array.isArray(detail)) {
    return detail
      .map((item) => (item && typeof item === "object" && "msg" in item ? String(item.msg) : String(item)))
      .join("; ");
  }
  if (detail === null || detail === undefined) return "";
  return typeof detail === "string" ? detail : JSON.stringify(detail);
}

/** Read `{"detail": ...}` from an error response; fall back to the status text. */
export async function errorFromResponse(response: Response): Promise<ApiError> {
  let detail: unknown = response.statusText || `HTTP ${response.status}`;
  try {
    const text = await response.text();
    if (text) {
      try {
        const body = JSON.parse(text) as unknown;
        detail = body && typeof body === "object" && "detail" in body ? (body as { detail: unknown }).detail : body;
      } catch {
        detail = text;
      }
    }
  } catch {
    // body unreadable: keep the status text
  }
  return new ApiError(response.status, detail);
}

/** Known English details of the engine mapped to i18n keys (see i18n/ru.ts `errors`). */
const KNOWN_DETAILS: Array<[RegExp, string]> = [
  [/^invalid credentials$/i, "errors.invalidCredentials"],
  [/^current password is wrong$/i, "errors.currentPasswordWrong"],
  [/already taken/i, "errors.taken"],
  [/already exists/i, "errors.exists"],
  [/administrator rights required/i, "errors.forbidden"],
  [/you cannot demote or deactivate yourself/i, "errors.selfDeactivate"],
  [/archived/i, "errors.archived"],
  [/invalid cron expression|must have 5 fields|never matches/i, "errors.cron"],
  [/unknown time zone/i, "errors.timezone"],
  [/telegram is not configured/i, "errors.telegramNotConfigured"],
  [/you already have this channel/i, "errors.channelExists"],
  [/password must be at least/i, "errors.passwordShort"],
  [/token expired|invalid token|refresh token/i, "errors.sessionExpired"],
];

type Translate = (key: string, options?: Record<string, unknown>) => string;

/** A sentence a person can read, in the interface language. */
export function humanError(error: unknown, t: Translate): string {
  if (!(error instanceof ApiError)) return t("errors.unexpected");
  if (error.status === 0) return t("errors.network");
  if (error.status === 429) return t("errors.tooMany");
  if (error.status >= 500) return t("errors.server");
  const text = error.message;
  for (const [pattern, key] of KNOWN_DETAILS) {
    if (pattern.test(text)) return t(key);
  }
  if (error.status === 403) return t("errors.forbidden");
  if (error.status === 404) return t("errors.notFound");
  return text;
}
