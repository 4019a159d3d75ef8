import type { Message, Proposal } from "../api";

export const proposalsKey = (chatId: string, messageId: number) => ["proposals", chatId, messageId] as const;

/** Only answers whose agent called a tool can carry proposals; the others are not asked. */
export function mayHaveProposals(message: Message): boolean {
  const calls = (message.meta as { tool_calls?: unknown[] } | undefined)?.tool_calls;
  return message.kind === "ai" && message.ai_status === "done" && Array.isArray(calls) && calls.length > 0;
}

/** Put a proposal that arrived over the chat's stream into its answer's list. */
export function mergeProposal(list: Proposal[] | undefined, proposal: Proposal): Proposal[] {
  const rest = (list ?? []).filter((p) => p.id !== proposal.id);
  return [...rest, proposal].sort((a, b) => a.created_at.localeCompare(b.created_at));
}
