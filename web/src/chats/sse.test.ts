import { describe, expect, it } from "vitest";
import { backoffDelay, ChatStream, SseParser, type SseEvent, type StreamState } from "./sse";

function stream(text: string, keepOpen = false): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  return new ReadableStream({
    start(controller) {
      controller.enqueue(bytes.slice(0, 7));
      controller.enqueue(bytes.slice(7));
      if (!keepOpen) controller.close();
    },
  });
}

const sse = (event: string, data: unknown, id?: number) =>
  `${id !== undefined ? `id: ${id}\n` : ""}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

type Script = Array<Response | Error>;

function harness(script: Script, extra: { refresh?: () => Promise<boolean>; resync?: (afterId: number) => Promise<number | null>; lastEventId?: string } = {}) {
  const requests: Array<Record<string, string>> = [];
  const events: Array<{ event: SseEvent; data: unknown }> = [];
  const states: StreamState[] = [];
  let token = "T1";
  const refreshes: number[] = [];
  const resyncs: number[] = [];
  const chatStream: ChatStream = new ChatStream({
    url: "/api/v1/chats/c1/events",
    accessToken: () => token,
    refresh: async () => {
      refreshes.push(1);
      const ok = extra.refresh ? await extra.refresh() : true;
      if (ok) token = `T${refreshes.length + 1}`;
      return ok;
    },
    onEvent: (event, data) => events.push({ event, data }),
    onResync: async (afterId) => {
      resyncs.push(afterId);
      return extra.resync ? extra.resync(afterId) : null;
    },
    onState: (state) => states.push(state),
    lastEventId: extra.lastEventId,
    sleep: async () => undefined,
    initialDelayMs: 100,
    maxDelayMs: 1000,
    fetch: (async (_url: RequestInfo | URL, init?: RequestInit) => {
      requests.push({ ...(init?.headers as Record<string, string>) });
      const next = script.shift();
      if (!next) {
        chatStream.stop();
        throw new Error("script over");
      }
      if (next instanceof Error) throw next;
      return next;
    }) as typeof fetch,
  });
  return { chatStream, requests, events, states, refreshes, resyncs };
}

const ok = (body: string) => new Response(stream(body), { status: 200, headers: { "content-type": "text/event-stream" } });

describe("SseParser", () => {
  it("parses events split across chunks, ignores comments, keeps the last id", () => {
    const parser = new SseParser();
    const out = [
      ...parser.feed(": ping\n\nid: 5\nevent: message.created\ndata: {\"a\""),
      ...parser.feed(":1}\r\n\r\nevent: ai.token\ndata: x\ndata: y\n\n"),
    ];
    expect(out).toEqual([
      { id: "5", event: "message.created", data: '{"a":1}' },
      { id: "5", event: "ai.token", data: "x\ny" },
    ]);
  });
  it("waits for the \\n after a chunk ending in \\r", () => {
    const parser = new SseParser();
    expect(parser.feed("data: a\r")).toEqual([]);
    expect(parser.feed("\n\r\n")).toEqual([{ id: null, event: "message", data: "a" }]);
  });
});

describe("backoffDelay", () => {
  it("doubles from the initial delay up to the cap", () => {
    expect([0, 1, 2, 3, 4, 10].map((a) => backoffDelay(a, 500, 5000))).toEqual([500, 1000, 2000, 4000, 5000, 5000]);
  });
});

describe("ChatStream", () => {
  it("sends the bearer token, delivers events and reconnects with Last-Event-ID", async () => {
    const h = harness([
      ok(sse("ready", {}) + sse("message.created", { id: 41 }, 41) + sse("message.created", { id: 42 }, 42)),
      ok(sse("ready", {}) + sse("message.created", { id: 43 }, 43)),
    ]);
    await h.chatStream.start();
    expect(h.requests[0].authorization).toBe("Bearer T1");
    expect(h.requests[0]["last-event-id"]).toBeUndefined();
    expect(h.requests[1]["last-event-id"]).toBe("42");
    expect(h.requests[2]["last-event-id"]).toBe("43");
    expect(h.events.filter((e) => e.event.event === "message.created").map((e) => e.data)).toEqual([
      { id: 41 },
      { id: 42 },
      { id: 43 },
    ]);
  });

  it("starts from a given Last-Event-ID and never moves it backwards", async () => {
    const h = harness([ok(sse("message.updated", { id: 3 }, 3) + sse("message.created", { id: 12 }, 12))], {
      lastEventId: "10",
    });
    await h.chatStream.start();
    expect(h.requests[0]["last-event-id"]).toBe("10");
    expect(h.requests[1]["last-event-id"]).toBe("12");
  });

  it("backs off on failures, doubling to the cap, and resets after ready", async () => {
    const h = harness([
      new Error("down"),
      new Response("bad gateway", { status: 502 }),
      new Error("down"),
      new Error("down"),
      new Error("down"),
      ok(sse("ready", {})),
      new Error("down"),
    ]);
    await h.chatStream.start();
    // five failures, a connection that reached `ready` and ended, one more failure
    expect(h.chatStream.delays).toEqual([100, 200, 400, 800, 1000, 100, 200]);
    expect(h.states).toContain("reconnecting");
  });

  it("re-reads after a resync and carries on from the highest id read", async () => {
    const h = harness([ok(sse("resync", { after_id: 20 }) + sse("ai.token", { message_id: 30, delta: "x" }))], {
      resync: async () => 25,
    });
    await h.chatStream.start();
    expect(h.resyncs).toEqual([20]);
    expect(h.requests[1]["last-event-id"]).toBe("25");
    expect(h.events.map((e) => e.event.event)).toEqual(["ai.token"]);
  });

  it("stops for good after access.revoked for membership", async () => {
    const h = harness([
      ok(sse("ready", {}) + sse("access.revoked", { reason: "membership" }) + sse("message.created", { id: 9 }, 9)),
      ok(sse("ready", {})),
    ]);
    await h.chatStream.start();
    expect(h.requests).toHaveLength(1);
    expect(h.states.at(-1)).toBe("revoked");
    expect(h.refreshes).toHaveLength(0);
    expect(h.events.map((e) => e.event.event)).toEqual(["ready", "access.revoked"]);
  });

  it("refreshes and resumes at once after access.revoked for token_expired", async () => {
    const h = harness([
      ok(sse("message.created", { id: 7 }, 7) + sse("access.revoked", { reason: "token_expired" })),
      ok(sse("message.created", { id: 8 }, 8)),
    ]);
    await h.chatStream.start();
    expect(h.refreshes).toHaveLength(1);
    expect(h.requests[1]).toMatchObject({ authorization: "Bearer T2", "last-event-id": "7" });
    expect(h.chatStream.delays[0]).toBe(100); // only the end of the second connection waited
    expect(h.chatStream.delays).toHaveLength(1);
  });

  it("stops when the token cannot be refreshed after token_expired", async () => {
    const h = harness([ok(sse("access.revoked", { reason: "token_expired" })), ok("")], {
      refresh: async () => false,
    });
    await h.chatStream.start();
    expect(h.requests).toHaveLength(1);
    expect(h.states.at(-1)).toBe("revoked");
  });

  it("refreshes once on a 401 and gives up on a second one", async () => {
    const h = harness([new Response(null, { status: 401 }), new Response(null, { status: 401 })]);
    await h.chatStream.start();
    expect(h.refreshes).toHaveLength(1);
    expect(h.requests.map((r) => r.authorization)).toEqual(["Bearer T1", "Bearer T2"]);
    expect(h.states.at(-1)).toBe("unauthorized");
  });

  it("does not reconnect to a chat that is gone", async () => {
    const h = harness([new Response(JSON.stringify({ detail: "chat not found" }), { status: 404 }), ok("")]);
    await h.chatStream.start();
    expect(h.requests).toHaveLength(1);
    expect(h.states.at(-1)).toBe("gone");
  });
});
