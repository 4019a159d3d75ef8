import { useQueryClient } from "@tanstack/react-query";
import { useCallback, useEffect, useRef, useState } from "react";
import { api, chats, type Message, type Proposal } from "../api";
import { mergeProposal, proposalsKey } from "./proposalState";
import { ChatStream, type StreamState } from "./sse";
import { appendToken, emptyState, lastId, patchMessage, removeMessage, upsertMessages, type MessagesState } from "./messageState";

const isMessage = (data: unknown): data is Message =>
  !!data && typeof data === "object" && "id" in data && "content" in data && "kind" in data;

/**
 * The open chat's messages: the newest page, older pages on demand (`before_id`), and the live
 * stream (new messages, updates, AI tokens) with catch-up after reconnects.
 */
export function useChatMessages(chatId: string) {
  const queryClient = useQueryClient();
  const [state, setState] = useState<MessagesState>(emptyState);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [loaded, setLoaded] = useState(false);
  const [loadingOlder, setLoadingOlder] = useState(false);
  const [streamState, setStreamState] = useState<StreamState>("connecting");
  const [revokedReason, setRevokedReason] = useState<string | null>(null);
  const stateRef = useRef(state);
  stateRef.current = state;

  const apply = useCallback((update: (s: MessagesState) => MessagesState) => setState((s) => update(s)), []);

  const load = useCallback(async () => {
    setLoadError(null);
    try {
      const page = await chats.messages(chatId, {});
      setState(upsertMessages({ ...emptyState, nextBeforeId: page.next_before_id }, page.items));
      setLoaded(true);
    } catch (error) {
      setLoadError(error);
    }
  }, [chatId]);

  useEffect(() => {
    setState(emptyState);
    setLoaded(false);
    setRevokedReason(null);
    void load();
  }, [load]);

  const loadOlder = useCallback(async () => {
    const before = stateRef.current.nextBeforeId;
    if (before === null || loadingOlder) return;
    setLoadingOlder(true);
    try {
      const page = await chats.messages(chatId, { before_id: before });
      setState((s) => ({ ...upsertMessages(s, page.items), nextBeforeId: page.next_before_id }));
    } catch (error) {
      setLoadError(error);
    } finally {
      setLoadingOlder(false);
    }
  }, [chatId, loadingOlder]);

  /** Read everything after `afterId` (the `resync` catch-up); returns the highest id read. */
  const catchUp = useCallback(
    async (afterId: number): Promise<number | null> => {
      let cursor = afterId;
      let highest: number | null = null;
      for (let page = 0; page < 20; page += 1) {
        const result = await chats.messages(chatId, { after_id: cursor, limit: 200 });
        if (result.items.length === 0) break;
        apply((s) => upsertMessages(s, result.items));
        cursor = Math.max(...result.items.map((m) => m.id));
        highest = cursor;
        if (result.items.length < 200) break;
      }
      return highest;
    },
    [apply, chatId],
  );

  /** After a reconnect, answers that were streaming may have missed tokens: read them again. */
  const refreshStreaming = useCallback(async () => {
    const open = stateRef.current.messages.filter(
      (m) => m.kind === "ai" && (m.ai_status === "pending" || m.ai_status === "running"),
    );
    for (const message of open) {
      try {
        const fresh = await chats.message(chatId, message.id);
        apply((s) => upsertMessages(s, [fresh]));
      } catch {
        // it will come with its next update
      }
    }
  }, [apply, chatId]);

  useEffect(() => {
    if (!loaded) return;
    let connectedOnce = false;
    const stream = new ChatStream({
      url: api.url(`/chats/${chatId}/events`),
      accessToken: () => api.tokens.access(),
      refresh: () => api.refresh().catch(() => false),
      lastEventId: lastId(stateRef.current)?.toString() ?? null,
      onResync: catchUp,
      onState: (s, detail) => {
        setStreamState(s);
        if (s === "revoked") setRevokedReason(detail ?? "");
      },
      onEvent: (event, data) => {
        switch (event.event) {
          case "ready":
            if (connectedOnce) void refreshStreaming();
            connectedOnce = true;
            break;
          case "ai.token": {
            const token = data as { message_id?: number; delta?: string; reset?: boolean };
            if (typeof token.message_id === "number" && typeof token.delta === "string") {
              const { message_id, delta } = token;
              const reset = token.reset === true;
              apply((s) => appendToken(s, message_id, delta, reset));
            }
            break;
          }
          case "message.deleted":
            if (data && typeof data === "object" && "id" in data) {
              const id = Number((data as { id: unknown }).id);
              apply((s) => removeMessage(s, id));
            }
            break;
          case "proposal.created":
          case "proposal.updated": {
            const proposal = data as Proposal;
            if (proposal && typeof proposal.message_id === "number") {
              queryClient.setQueryData<Proposal[]>(proposalsKey(chatId, proposal.message_id), (old) =>
                mergeProposal(old, proposal),
              );
            }
            break;
          }
          default:
            if (event.event.startsWith("message.") && isMessage(data)) {
              apply((s) => upsertMessages(s, [data]));
            } else if (event.event.startsWith("message.") && data && typeof data === "object" && "id" in data) {
              const patch = data as Partial<Message> & { id: number };
              apply((s) => patchMessage(s, patch));
            }
        }
      },
    });
    void stream.start();
    return () => stream.stop();
  }, [loaded, chatId, apply, catchUp, refreshStreaming, queryClient]);

  const upsert = useCallback((messages: Message[]) => apply((s) => upsertMessages(s, messages)), [apply]);
  const remove = useCallback((id: number) => apply((s) => removeMessage(s, id)), [apply]);

  return {
    ...state,
    loaded,
    loadError,
    reload: load,
    loadOlder,
    loadingOlder,
    streamState,
    revokedReason,
    upsert,
    remove,
  };
}
