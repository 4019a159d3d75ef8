import type { Message } from "../api";

/** Messages of the open chat, oldest first, plus what is known about older pages. */
export interface MessagesState {
  messages: Message[];
  nextBeforeId: number | null;
  /** Deltas of AI answers whose message has not arrived yet. */
  orphanTokens: Record<number, string>;
}

export const emptyState: MessagesState = { messages: [], nextBeforeId: null, orphanTokens: {} };

const streaming = (m: Message) => m.kind === "ai" && (m.ai_status === "pending" || m.ai_status === "running");

/** Merge one incoming copy of a message into the one we hold. */
function mergeOne(existing: Message | undefined, incoming: Message): Message {
  if (!existing) return incoming;
  // An update of a still-streaming answer may carry less text than the tokens already shown.
  if (streaming(incoming) && existing.content.length > incoming.content.length) {
    return { ...existing, ...incoming, content: existing.content };
  }
  return { ...existing, ...incoming };
}

/** Upsert messages (any order), keep ascending ids, apply tokens that were waiting for them. */
export function upsertMessages(state: MessagesState, incoming: Message[]): MessagesState {
  if (incoming.length === 0) return state;
  const byId = new Map(state.messages.map((m) => [m.id, m]));
  let orphanTokens = state.orphanTokens;
  for (const message of incoming) {
    if (message.is_deleted) {
      byId.delete(message.id);
      continue;
    }
    let merged = mergeOne(byId.get(message.id), message);
    const waiting = orphanTokens[message.id];
    if (waiting !== undefined) {
      if (streaming(merged) && merged.content.length < waiting.length) merged = { ...merged, content: waiting };
      orphanTokens = { ...orphanTokens };
      delete orphanTokens[message.id];
    }
    byId.set(message.id, merged);
  }
  const messages = [...byId.values()].sort((a, b) => a.id - b.id);
  return { ...state, messages, orphanTokens };
}

export function removeMessage(state: MessagesState, id: number): MessagesState {
  return { ...state, messages: state.messages.filter((m) => m.id !== id) };
}

/** Append one streamed piece of an AI answer. */
/**
 * Add a streamed piece of an AI answer. `reset` starts the shown text over: the engine retried
 * the model call (another server, another worker) or the agent began a later turn.
 */
export function appendToken(state: MessagesState, id: number, delta: string, reset = false): MessagesState {
  const index = state.messages.findIndex((m) => m.id === id);
  if (index < 0) {
    const before = reset ? "" : (state.orphanTokens[id] ?? "");
    return { ...state, orphanTokens: { ...state.orphanTokens, [id]: before + delta } };
  }
  const message = state.messages[index];
  if (message.ai_status === "done" || message.ai_status === "failed") return state;
  const messages = state.messages.slice();
  messages[index] = { ...message, content: (reset ? "" : message.content) + delta, ai_status: "running" };
  return { ...state, messages };
}

export const lastId = (state: MessagesState): number | null =>
  state.messages.length ? state.messages[state.messages.length - 1].id : null;

/** Apply a partial update (e.g. `message.status`: `{id, ai_status}`) to a message we hold. */
export function patchMessage(state: MessagesState, patch: Partial<Message> & { id: number }): MessagesState {
  const index = state.messages.findIndex((m) => m.id === patch.id);
  if (index < 0) return state;
  const messages = state.messages.slice();
  messages[index] = mergeOne(messages[index], { ...messages[index], ...patch });
  return { ...state, messages };
}
