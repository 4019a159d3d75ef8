import { describe, expect, it, vi } from "vitest";
import { ApiClient } from "./client";
import { ApiError, errorFromResponse, humanError } from "./errors";
import { MemoryTokenStore } from "./tokens";
import { apiBase } from "./config";

type Call = { url: string; init: RequestInit };

function json(status: number, body: unknown): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

function client(handler: (call: Call) => Response | Promise<Response>, tokens = new MemoryTokenStore()) {
  const calls: Call[] = [];
  const fetchImpl = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const call = { url: String(input), init: init ?? {} };
    calls.push(call);
    return handler(call);
  }) as typeof fetch;
  const onAuthLost = vi.fn();
  const api = new ApiClient({ tokens, fetch: fetchImpl, baseUrl: () => "/api/v1/web", onAuthLost });
  return { api, calls, onAuthLost, tokens };
}

const header = (call: Call, name: string) => (call.init.headers as Record<string, string>)[name];

describe("apiBase", () => {
  it("reads window.RUGPT_CONFIG and falls back to /api/v1", () => {
    const w = globalThis as unknown as { window?: { RUGPT_CONFIG?: { apiBase?: string } } };
    const saved = w.window;
    try {
      w.window = {};
      expect(apiBase()).toBe("/api/v1");
      w.window = { RUGPT_CONFIG: { apiBase: "/api/v1/web/" } };
      expect(apiBase()).toBe("/api/v1/web");
      w.window = { RUGPT_CONFIG: { apiBase: "  " } };
      expect(apiBase()).toBe("/api/v1");
    } finally {
      w.window = saved;
    }
  });
});

describe("ApiClient requests", () => {
  it("joins the base URL, path and query, and sends the bearer token and JSON body", async () => {
    const tokens = new MemoryTokenStore({ access_token: "A1", refresh_token: "R1" });
    const { api, calls } = client(() => json(200, { ok: true }), tokens);
    const result = await api.request<{ ok: boolean }>("POST", "/chats", {
      body: { title: "x" },
      query: { limit: 5, q: "ив", skip: undefined, empty: "" },
    });
    expect(result).toEqual({ ok: true });
    expect(calls[0].url).toBe("/api/v1/web/chats?limit=5&q=%D0%B8%D0%B2");
    expect(header(calls[0], "authorization")).toBe("Bearer A1");
    expect(header(calls[0], "content-type")).toBe("application/json");
    expect(calls[0].init.body).toBe('{"title":"x"}');
  });

  it("sends no token where auth is off and returns undefined for 204", async () => {
    const tokens = new MemoryTokenStore({ access_token: "A1", refresh_token: "R1" });
    const { api, calls } = client(() => new Response(null, { status: 204 }), tokens);
    expect(await api.post("/auth/logout", { refresh_token: "R1" }, { auth: false })).toBeUndefined();
    expect(header(calls[0], "authorization")).toBeUndefined();
  });

  it("turns a string detail into an ApiError with status and detail", async () => {
    const { api } = client(() => json(409, { detail: "username or email already taken in this organization" }));
    const error = await api.get("/users").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(409);
    expect((error as ApiError).detail).toBe("username or email already taken in this organization");
    expect((error as ApiError).retryable).toBe(false);
  });

  it("joins the messages of a 422 detail list", async () => {
    const detail = [
      { loc: ["body", "password"], msg: "Value error, password must be at least 8 characters", type: "value_error" },
      { loc: ["body", "username"], msg: "Field required", type: "missing" },
    ];
    const error = await errorFromResponse(json(422, { detail }));
    expect(error.status).toBe(422);
    expect(error.detail).toEqual(detail);
    expect(error.message).toBe("Value error, password must be at least 8 characters; Field required");
  });

  it("keeps a non-JSON error body as the detail", async () => {
    const error = await errorFromResponse(new Response("Bad Gateway", { status: 502 }));
    expect(error.status).toBe(502);
    expect(error.detail).toBe("Bad Gateway");
    expect(error.retryable).toBe(true);
  });

  it("reports a network failure as status 0", async () => {
    const { api } = client(() => {
      throw new TypeError("Failed to fetch");
    });
    const error = (await api.get("/chats").catch((e: unknown) => e)) as ApiError;
    expect(error.status).toBe(0);
    expect(error.retryable).toBe(true);
  });

  it("maps known details to Russian-facing keys", () => {
    const t = (key: string) => key;
    expect(humanError(new ApiError(401, "invalid credentials"), t)).toBe("errors.invalidCredentials");
    expect(humanError(new ApiError(0, "x"), t)).toBe("errors.network");
    expect(humanError(new ApiError(503, "database unavailable"), t)).toBe("errors.server");
    expect(humanError(new ApiError(404, "chat not found"), t)).toBe("errors.notFound");
    expect(humanError(new ApiError(422, "something specific"), t)).toBe("something specific");
  });
});

describe("token refresh", () => {
  it("shares one refresh among concurrent 401s and retries each request with the new token", async () => {
    const tokens = new MemoryTokenStore({ access_token: "old", refresh_token: "R1" });
    let refreshes = 0;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const { api, calls } = client(async (call) => {
      if (call.url.endsWith("/auth/refresh")) {
        refreshes += 1;
        expect(JSON.parse(String(call.init.body))).toEqual({ refresh_token: "R1" });
        await gate;
        return json(200, { access_token: "new", refresh_token: "R2" });
      }
      return header(call, "authorization") === "Bearer new" ? json(200, { url: call.url }) : json(401, { detail: "token expired" });
    }, tokens);
    const pending = [api.get("/a"), api.get("/b"), api.get("/c")];
    await new Promise((resolve) => setTimeout(resolve, 0));
    release();
    const results = await Promise.all(pending);
    expect(refreshes).toBe(1);
    expect(results.map((r) => (r as { url: string }).url)).toEqual(["/api/v1/web/a", "/api/v1/web/b", "/api/v1/web/c"]);
    expect(tokens.access()).toBe("new");
    expect(tokens.refresh()).toBe("R2");
    expect(calls.filter((c) => header(c, "authorization") === "Bearer new")).toHaveLength(3);
  });

  it("retries without a new refresh when another request already renewed the token", async () => {
    const tokens = new MemoryTokenStore({ access_token: "old", refresh_token: "R1" });
    let refreshes = 0;
    const { api } = client((call) => {
      if (call.url.endsWith("/auth/refresh")) {
        refreshes += 1;
        return json(200, { access_token: "new", refresh_token: "R2" });
      }
      if (header(call, "authorization") === "Bearer new") return json(200, {});
      // the token is renewed by someone else while this request is under way
      tokens.set({ access_token: "new", refresh_token: "R2" });
      return json(401, { detail: "token expired" });
    }, tokens);
    await api.get("/x");
    expect(refreshes).toBe(0);
  });

  it("logs out when the refresh is refused, once, and throws the 401", async () => {
    const tokens = new MemoryTokenStore({ access_token: "old", refresh_token: "R1" });
    const { api, onAuthLost } = client(
      (call) =>
        call.url.endsWith("/auth/refresh")
          ? json(401, { detail: "refresh token reused; session revoked" })
          : json(401, { detail: "token expired" }),
      tokens,
    );
    const results = await Promise.allSettled([api.get("/a"), api.get("/b")]);
    for (const result of results) {
      expect(result.status).toBe("rejected");
      expect(((result as PromiseRejectedResult).reason as ApiError).status).toBe(401);
    }
    expect(tokens.access()).toBeNull();
    expect(tokens.refresh()).toBeNull();
    expect(onAuthLost).toHaveBeenCalledTimes(1);
  });

  it("keeps the session when the refresh fails on the network", async () => {
    const tokens = new MemoryTokenStore({ access_token: "old", refresh_token: "R1" });
    const { api, onAuthLost } = client((call) => {
      if (call.url.endsWith("/auth/refresh")) throw new TypeError("offline");
      return json(401, { detail: "token expired" });
    }, tokens);
    const error = (await api.get("/a").catch((e: unknown) => e)) as ApiError;
    expect(error.status).toBe(0);
    expect(tokens.refresh()).toBe("R1");
    expect(onAuthLost).not.toHaveBeenCalled();
  });

  it("does not try to refresh for a login failure", async () => {
    const { api, calls, onAuthLost } = client(() => json(401, { detail: "invalid credentials" }));
    const error = (await api.post("/auth/login", { login: "a", password: "b" }, { auth: false }).catch((e: unknown) => e)) as ApiError;
    expect(error.status).toBe(401);
    expect(calls).toHaveLength(1);
    expect(onAuthLost).not.toHaveBeenCalled();
  });
});
