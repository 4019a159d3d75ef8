import { apiBase } from "./config";
import { ApiError, errorFromResponse } from "./errors";
import type { TokenPair, TokenStore } from "./tokens";

export type Query = Record<string, string | number | boolean | null | undefined>;

export interface RequestOptions {
  body?: unknown;
  query?: Query;
  /** Send the bearer token and refresh it on 401 (default true). */
  auth?: boolean;
  signal?: AbortSignal;
  /** Raw body (e.g. FormData) instead of JSON. */
  raw?: BodyInit;
}

export interface ApiClientOptions {
  tokens: TokenStore;
  baseUrl?: () => string;
  fetch?: typeof fetch;
  /** Called once when the session is lost (refresh failed): the UI goes back to login. */
  onAuthLost?: () => void;
}

/**
 * The one typed client of the engine's API: base URL, bearer header, and a token refresh on 401
 * that concurrent requests share (one POST /auth/refresh in flight at a time).
 */
export class ApiClient {
  readonly tokens: TokenStore;
  private readonly baseUrl: () => string;
  private readonly fetchImpl: typeof fetch;
  onAuthLost: (() => void) | undefined;
  private refreshing: Promise<boolean> | null = null;

  constructor(options: ApiClientOptions) {
    this.tokens = options.tokens;
    this.baseUrl = options.baseUrl ?? apiBase;
    this.fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.onAuthLost = options.onAuthLost;
  }

  url(path: string, query?: Query): string {
    let url = this.baseUrl() + (path.startsWith("/") ? path : `/${path}`);
    if (query) {
      const params = new URLSearchParams();
      for (const [key, value] of Object.entries(query)) {
        if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
      }
      const text = params.toString();
      if (text) url += `?${text}`;
    }
    return url;
  }

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const auth = options.auth ?? true;
    const send = async (): Promise<Response> => {
      const headers: Record<string, string> = { accept: "application/json" };
      let body: BodyInit | undefined = options.raw;
      if (options.body !== undefined) {
        headers["content-type"] = "application/json";
        body = JSON.stringify(options.body);
      }
      const token = auth ? this.tokens.access() : null;
      if (token) headers.authorization = `Bearer ${token}`;
      try {
        return await this.fetchImpl(this.url(path, options.query), {
          method,
          headers,
          body,
          signal: options.signal,
        });
      } catch (error) {
        if (options.signal?.aborted) throw error;
        throw new ApiError(0, error instanceof Error ? error.message : "network error");
      }
    };

    const tokenUsed = auth ? this.tokens.access() : null;
    let response = await send();
    if (response.status === 401 && auth && this.tokens.refresh()) {
      const renewed = this.tokens.access() !== tokenUsed ? true : await this.refresh();
      if (renewed) response = await send();
    }
    if (!response.ok) {
      const error = await errorFromResponse(response);
      if (error.status === 401 && auth) this.loseSession();
      throw error;
    }
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** Exchange the refresh token for a new pair; concurrent callers share one request. */
  refresh(): Promise<boolean> {
    if (!this.refreshing) {
      this.refreshing = this.doRefresh().finally(() => {
        this.refreshing = null;
      });
    }
    return this.refreshing;
  }

  private async doRefresh(): Promise<boolean> {
    const refreshToken = this.tokens.refresh();
    if (!refreshToken) return false;
    let response: Response;
    try {
      response = await this.fetchImpl(this.url("/auth/refresh"), {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify({ refresh_token: refreshToken }),
      });
    } catch (error) {
      // A network failure is not a lost session: keep the tokens, let the caller retry later.
      throw new ApiError(0, error instanceof Error ? error.message : "network error");
    }
    if (!response.ok) {
      if (response.status >= 500) throw await errorFromResponse(response);
      this.loseSession();
      return false;
    }
    const pair = (await response.json()) as TokenPair;
    this.tokens.set(pair);
    return true;
  }

  private loseSession(): void {
    const hadSession = this.tokens.refresh() !== null || this.tokens.access() !== null;
    this.tokens.clear();
    if (hadSession) this.onAuthLost?.();
  }

  get<T>(path: string, query?: Query, signal?: AbortSignal): Promise<T> {
    return this.request<T>("GET", path, { query, signal });
  }
  post<T>(path: string, body?: unknown, options: Omit<RequestOptions, "body"> = {}): Promise<T> {
    return this.request<T>("POST", path, { ...options, body });
  }
  patch<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>("PATCH", path, { body });
  }
  delete<T = void>(path: string): Promise<T> {
    return this.request<T>("DELETE", path);
  }
}
