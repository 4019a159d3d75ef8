// What tests/web/test_e2e.py seeded through the public API before starting Playwright.
import { readFileSync } from "node:fs";

export interface Account {
  id: string;
  username: string;
  password: string;
  organization: string;
}

export interface SeededChat {
  id: string;
  title: string;
}

export interface Seed {
  accounts: Record<string, Account>;
  chats: Record<string, SeededChat>;
  /** Text of seeded messages by name (e.g. the XSS probes). */
  texts: Record<string, string>;
  /** The test's control server: engine restarts and the like. */
  controlUrl: string;
  apiBase: string;
}

let cached: Seed | null = null;

export function seed(): Seed {
  if (cached === null) {
    const path = process.env.E2E_DATA;
    if (!path) throw new Error("E2E_DATA is not set: run the browser tests via tests/web/test_e2e.py");
    cached = JSON.parse(readFileSync(path, "utf-8")) as Seed;
  }
  return cached;
}

export function account(name: string): Account {
  const found = seed().accounts[name];
  if (!found) throw new Error(`no seeded account ${name}`);
  return found;
}

/** POST to the test's control server and return its JSON answer. */
export async function control<T = unknown>(action: string, body: unknown = {}): Promise<T> {
  const response = await fetch(`${seed().controlUrl}/${action}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`control ${action}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}
