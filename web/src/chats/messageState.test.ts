import { describe, expect, it } from "vitest";
import type { Message } from "../api";
import { appendToken, emptyState, patchMessage, removeMessage, upsertMessages } from "./messageState";

function message(id: number, patch: Partial<Message> = {}): Message {
  return {
    id,
    chat_id: "c1",
    kind: "user",
    author_id: "u1",
    role_code: null,
    content: `m${id}`,
    reply_to_id: null,
    ai_status: null,
    ai_error: null,
    ai_validated: false,
    needs_validation: false,
    validation: null,
    validated_by: null,
    validated_at: null,
    meta: null,
    is_edited: false,
    created_at: "2026-01-01T00:00:00Z",
    updated_at: "2026-01-01T00:00:00Z",
    ...patch,
  };
}

const ai = (id: number, patch: Partial<Message> = {}) =>
  message(id, { kind: "ai", author_id: null, role_code: "lawyer", content: "", ai_status: "pending", needs_validation: true, ...patch });

describe("message state", () => {
  it("keeps messages in ascending order without duplicates, whatever order pages come in", () => {
    let state = upsertMessages(emptyState, [message(5), message(4), message(3)]);
    state = upsertMessages(state, [message(2), message(1), message(3, { content: "edited", is_edited: true })]);
    expect(state.messages.map((m) => m.id)).toEqual([1, 2, 3, 4, 5]);
    expect(state.messages[2].content).toBe("edited");
  });

  it("streams tokens into an answer and lets the final update replace the text", () => {
    let state = upsertMessages(emptyState, [ai(7)]);
    state = appendToken(state, 7, "Со");
    state = appendToken(state, 7, "гласно");
    expect(state.messages[0]).toMatchObject({ content: "Согласно", ai_status: "running" });
    // a status update without text does not wipe what was streamed
    state = upsertMessages(state, [ai(7, { ai_status: "running", content: "" })]);
    expect(state.messages[0].content).toBe("Согласно");
    state = upsertMessages(state, [ai(7, { ai_status: "done", content: "Согласно ГК РФ." })]);
    expect(state.messages[0]).toMatchObject({ content: "Согласно ГК РФ.", ai_status: "done" });
    // late tokens after done change nothing
    expect(appendToken(state, 7, "!")).toBe(state);
  });

  it("starts the streamed text over when the engine retries the model call", () => {
    let state = upsertMessages(emptyState, [ai(7)]);
    state = appendToken(state, 7, "Обры", true);
    state = appendToken(state, 7, "в");
    state = appendToken(state, 7, "Согласно", true);
    state = appendToken(state, 7, " ГК");
    expect(state.messages[0]).toMatchObject({ content: "Согласно ГК", ai_status: "running" });
    let orphan = appendToken(emptyState, 8, "Обрыв", true);
    orphan = appendToken(orphan, 8, "Ответ", true);
    expect(orphan.orphanTokens).toEqual({ 8: "Ответ" });
  });

  it("keeps tokens that arrive before their message and applies them when it comes", () => {
    let state = appendToken(emptyState, 9, "При");
    state = appendToken(state, 9, "вет");
    expect(state.messages).toEqual([]);
    state = upsertMessages(state, [ai(9)]);
    expect(state.messages[0].content).toBe("Привет");
    expect(state.orphanTokens).toEqual({});
  });

  it("applies partial status patches to known messages only", () => {
    let state = upsertMessages(emptyState, [ai(3)]);
    state = patchMessage(state, { id: 3, ai_status: "running" });
    expect(state.messages[0].ai_status).toBe("running");
    expect(patchMessage(state, { id: 99, ai_status: "done" })).toBe(state);
    state = patchMessage(state, { id: 3, ai_status: "failed", ai_error: "LLM timeout" });
    expect(state.messages[0]).toMatchObject({ ai_status: "failed", ai_error: "LLM timeout" });
  });

  it("drops deleted messages", () => {
    let state = upsertMessages(emptyState, [message(1), message(2)]);
    state = upsertMessages(state, [message(2, { is_deleted: true })]);
    expect(state.messages.map((m) => m.id)).toEqual([1]);
    expect(removeMessage(state, 1).messages).toEqual([]);
  });
});
