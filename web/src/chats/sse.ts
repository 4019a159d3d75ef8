/** One Server-Sent Event as parsed from the stream. */
export interface SseEvent {
  id: string | null;
  event: string;
  data: string;
}

/** Incremental parser of the text/event-stream format (fields, comments, CRLF, split chunks). */
export class SseParser {
  private buffer = "";
  private data: string[] = [];
  private event = "";
  private id: string | null = null;

  feed(chunk: string): SseEvent[] {
    this.buffer += chunk;
    const events: SseEvent[] = [];
    let newline: number;
    while ((newline = this.buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = this.buffer.slice(0, newline);
      const width = this.buffer.startsWith("\r\n", newline) ? 2 : 1;
      // A lone \r at the end may be the first half of \r\n: wait for more.
      if (width === 1 && this.buffer[newline] === "\r" && newline === this.buffer.length - 1) break;
      this.buffer = this.buffer.slice(newline + width);
      const event = this.line(line);
      if (event) events.push(event);
    }
    return events;
  }

  private line(line: string): SseEvent | null {
    if (line === "") {
      if (this.data.length === 0 && !this.event) {
        return null;
      }
      const event = { id: this.id, event: this.event || "message", data: this.data.join("\n") };
      this.data = [];
      this.event = "";
      return event;
    }
    if (line.startsWith(":")) return null;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") this.data.push(value);
    else if (field === "event") this.event = value;
    else if (field === "id" && !value.includes("\0")) this.id = value;
    return null;
  }
}

export type StreamState = "connecting" | "open" | "reconnecting" | "revoked" | "unauthorized" | "gone" | "closed";

export interface ChatStreamOptions {
  /** The events URL of the chat (without cursor). */
  url: string;
  accessToken: () => string | null;
  /** Renew the access token; false when the session is lost. */
  refresh: () => Promise<boolean>;
  onEvent: (event: SseEvent, data: unknown) => void;
  /** Re-read messages after `afterId`; resolve with the highest id read (or null). */
  onResync: (afterId: number) => Promise<number | null>;
  onState?: (state: StreamState, detail?: string) => void;
  fetch?: typeof fetch;
  /** Waits between attempts; tests pass an instant one. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Reconnect when nothing (not even a ping) arrived for this long. */
  idleTimeoutMs?: number;
  lastEventId?: string | null;
}

function defaultSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Delay before reconnect attempt `attempt` (0-based): doubling from `initial`, capped at `max`. */
export function backoffDelay(attempt: number, initial: number, max: number): number {
  return Math.min(max, initial * 2 ** Math.min(attempt, 30));
}

/**
 * The live stream of one chat over fetch (so it can send the Authorization header), with
 * reconnects on a growing back-off, Last-Event-ID replay, `resync` catch-up, and the rules of
 * `access.revoked`: stop for good unless the reason is `token_expired`, then refresh and resume.
 */
export class ChatStream {
  lastEventId: string | null;
  private readonly options: ChatStreamOptions;
  private readonly stopper = new AbortController();
  private attempt = 0;
  private running: Promise<void> | null = null;
  /** Delays waited so far (for tests and diagnostics). */
  readonly delays: number[] = [];

  constructor(options: ChatStreamOptions) {
    this.options = options;
    this.lastEventId = options.lastEventId ?? null;
  }

  start(): Promise<void> {
    if (!this.running) this.running = this.loop();
    return this.running;
  }

  stop(): void {
    this.stopper.abort();
    this.setState("closed");
  }

  get stopped(): boolean {
    return this.stopper.signal.aborted;
  }

  private setState(state: StreamState, detail?: string): void {
    this.options.onState?.(state, detail);
  }

  private async wait(): Promise<void> {
    const delay = backoffDelay(this.attempt, this.options.initialDelayMs ?? 500, this.options.maxDelayMs ?? 8000);
    this.attempt += 1;
    this.delays.push(delay);
    this.setState("reconnecting");
    await (this.options.sleep ?? defaultSleep)(delay, this.stopper.signal);
  }

  private async loop(): Promise<void> {
    let refreshedFor401 = false;
    while (!this.stopped) {
      this.setState(this.attempt === 0 ? "connecting" : "reconnecting");
      let outcome: "retry" | "now" | "stop";
      try {
        const response = await this.open();
        if (response.status === 401) {
          if (!refreshedFor401 && (await this.options.refresh())) {
            refreshedFor401 = true;
            continue;
          }
          this.setState("unauthorized");
          return;
        }
        refreshedFor401 = false;
        if (response.status === 404 || response.status === 403) {
          this.setState("gone");
          return;
        }
        if (!response.ok || !response.body) {
          outcome = "retry";
        } else {
          outcome = await this.consume(response.body);
        }
      } catch {
        outcome = "retry";
      }
      if (this.stopped || outcome === "stop") return;
      if (outcome === "retry") await this.wait();
    }
  }

  private open(): Promise<Response> {
    const headers: Record<string, string> = { accept: "text/event-stream" };
    const token = this.options.accessToken();
    if (token) headers.authorization = `Bearer ${token}`;
    if (this.lastEventId) headers["last-event-id"] = this.lastEventId;
    const doFetch = this.options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    return doFetch(this.options.url, { headers, signal: this.stopper.signal, cache: "no-store" });
  }

  /** Read one connection to its end; say whether to reconnect after a pause, at once, or never. */
  private async consume(body: ReadableStream<Uint8Array>): Promise<"retry" | "now" | "stop"> {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    const parser = new SseParser();
    const idleMs = this.options.idleTimeoutMs ?? 45000;
    let idleTimer: ReturnType<typeof setTimeout> | undefined;
    const armIdle = () => {
      clearTimeout(idleTimer);
      idleTimer = setTimeout(() => void reader.cancel().catch(() => undefined), idleMs);
    };
    this.setState("open");
    armIdle();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return "retry";
        armIdle();
        for (const event of parser.feed(decoder.decode(value, { stream: true }))) {
          const verdict = await this.handle(event);
          if (verdict) {
            void reader.cancel().catch(() => undefined);
            return verdict;
          }
        }
      }
    } finally {
      clearTimeout(idleTimer);
    }
  }

  private async handle(event: SseEvent): Promise<"now" | "stop" | null> {
    let data: unknown = null;
    if (event.data) {
      try {
        data = JSON.parse(event.data);
      } catch {
        data = event.data;
      }
    }
    if (event.event === "ready") this.attempt = 0;
    if (event.event === "access.revoked") {
      const reason = data && typeof data === "object" && "reason" in data ? String(data.reason) : "";
      if (reason === "token_expired" && (await this.options.refresh())) return "now";
      this.setState("revoked", reason);
      this.options.onEvent(event, data);
      return "stop";
    }
    if (event.event === "resync") {
      const afterId = data && typeof data === "object" && "after_id" in data ? Number(data.after_id) : NaN;
      if (Number.isFinite(afterId)) {
        this.advance(afterId);
        const highest = await this.options.onResync(afterId);
        if (highest !== null) this.advance(highest);
      }
      return null;
    }
    if (event.id !== null && event.id !== "") this.advance(Number(event.id), event.id);
    this.options.onEvent(event, data);
    return null;
  }

  private advance(id: number, raw?: string): void {
    if (!Number.isFinite(id)) {
      if (raw) this.lastEventId = raw;
      return;
    }
    const current = this.lastEventId === null ? NaN : Number(this.lastEventId);
    if (!Number.isFinite(current) || id > current) this.lastEventId = raw ?? String(id);
  }
}
