import { describe, expect, it } from "vitest";
import type { Message, Proposal } from "../api";
import { mayHaveProposals, mergeProposal } from "./proposalState";

const proposal = (id: string, created_at: string, status: Proposal["status"] = "pending"): Proposal => ({
  id,
  chat_id: "c",
  message_id: 7,
  role_code: "accountant",
  tool: "calendar",
  action: "create",
  target_type: "calendar_event",
  target_id: null,
  payload: {},
  summary: "создать событие",
  status,
  status_reason: null,
  result: null,
  decided_by: null,
  decided_at: null,
  created_at,
});

const answer = (patch: Partial<Message>): Message =>
  ({ id: 7, kind: "ai", ai_status: "done", meta: { tool_calls: [{ name: "calendar" }] }, ...patch }) as Message;

describe("proposals", () => {
  it("replaces a proposal by id and keeps them oldest first", () => {
    const list = [proposal("b", "2026-01-02T00:00:00Z"), proposal("a", "2026-01-01T00:00:00Z")];
    const merged = mergeProposal(list, proposal("b", "2026-01-02T00:00:00Z", "applied"));
    expect(merged.map((p) => [p.id, p.status])).toEqual([
      ["a", "pending"],
      ["b", "applied"],
    ]);
    expect(mergeProposal(undefined, proposal("x", "2026-01-01T00:00:00Z"))).toHaveLength(1);
  });

  it("asks only finished AI answers whose agent called a tool", () => {
    expect(mayHaveProposals(answer({}))).toBe(true);
    expect(mayHaveProposals(answer({ meta: { tool_calls: [] } }))).toBe(false);
    expect(mayHaveProposals(answer({ meta: null }))).toBe(false);
    expect(mayHaveProposals(answer({ ai_status: "running" }))).toBe(false);
    expect(mayHaveProposals(answer({ kind: "user" }))).toBe(false);
  });
});
