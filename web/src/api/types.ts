export type UserRole = "user" | "admin" | "system_admin";

export interface User {
  id: string;
  org_id: string;
  username: string;
  email: string | null;
  full_name: string | null;
  role: UserRole;
  is_active: boolean;
  created_at: string;
  updated_at: string;
}

export interface LoginResponse {
  access_token: string;
  refresh_token: string;
  token_type: string;
  expires_in: number;
  refresh_expires_in: number;
  user: User;
}

export interface Organization {
  id: string;
  slug: string;
  name: string;
  is_active: boolean;
  created_at: string;
  updated_at: string;
  admin?: User | null;
}

export interface Role {
  code: string;
  name: string;
  description: string;
  agent_type: string;
  tools: string[];
}

export interface LastMessage {
  id: number;
  kind: string;
  author_id: string | null;
  role_code: string | null;
  content: string;
  created_at: string;
}

export interface Chat {
  id: string;
  kind: "group" | "direct";
  title: string | null;
  created_by: string;
  is_archived: boolean;
  member_ids: string[];
  last_message_at: string | null;
  created_at: string;
  last_message?: LastMessage | null;
  unread_count?: number;
  last_read_message_id?: number | null;
}

export type AiStatus = "pending" | "running" | "done" | "failed";

export interface Message {
  id: number;
  chat_id: string;
  kind: "user" | "ai";
  author_id: string | null;
  role_code: string | null;
  content: string;
  reply_to_id: number | null;
  ai_status: AiStatus | null;
  ai_error: string | null;
  ai_validated: boolean;
  needs_validation: boolean;
  validation: "validated" | "rejected" | null;
  validated_by: string | null;
  validated_at: string | null;
  meta: Record<string, unknown> | null;
  is_edited: boolean;
  is_deleted?: boolean;
  created_at: string;
  updated_at: string;
}

export interface MessagePage {
  items: Message[];
  next_before_id: number | null;
}

export interface UnresolvedMention {
  text: string;
  kind: "user" | "role";
  reason: "unknown_user" | "not_member" | "unknown_role";
}

export interface PostedMessage {
  message: Message;
  ai_message_ids: number[];
  mentioned_user_ids: string[];
  unresolved_mentions?: UnresolvedMention[];
}

export interface DocumentSummary {
  id: string;
  title: string;
  created_by: string | null;
  created_at: string;
  chunks?: number;
}

export type EventKind = "one_time" | "recurring";

export interface CalendarEvent {
  id: string;
  org_id: string;
  owner_id: string;
  title: string;
  description: string;
  starts_at: string;
  ends_at: string | null;
  kind: EventKind;
  cron: string | null;
  timezone: string;
  until_at: string | null;
  max_occurrences: number | null;
  remind_before_minutes: number;
  role_code: string | null;
  prompt: string | null;
  participants: string[];
  missed_policy: "latest" | "skip";
  is_active: boolean;
  next_occurrence_at: string | null;
  next_run_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface EventInput {
  title: string;
  description?: string;
  kind: EventKind;
  starts_at: string;
  ends_at?: string | null;
  cron?: string | null;
  timezone: string;
  until_at?: string | null;
  max_occurrences?: number | null;
  remind_before_minutes: number;
  role_code?: string | null;
  prompt?: string | null;
  participants?: string[];
}

export interface Occurrence {
  event_id: string;
  title: string;
  starts_at: string;
  ends_at: string | null;
  description: string;
  kind: EventKind;
  timezone: string;
  owner_id: string;
  role_code: string | null;
}

export interface EventRun {
  id?: string | number;
  occurrence_at: string;
  status: "running" | "done" | "skipped" | "failed";
  attempt: number;
  agent_status: "ok" | "failed" | null;
  agent_result: string | null;
  agent_error: string | null;
  notified: number | null;
  created_at?: string;
}

export interface Channel {
  id: string;
  user_id: string;
  type: "email" | "telegram";
  address: string;
  priority: number;
  enabled: boolean;
  verified: boolean;
  created_at: string;
  updated_at: string;
}

export interface DeliveryAttempt {
  id: number;
  notification_id: string | number | null;
  channel_id: string | null;
  channel_type: string;
  address: string;
  status: "sending" | "sent" | "transient_error" | "permanent_error";
  error: string | null;
  attempt: number;
  source: string;
  created_at: string;
  finished_at: string | null;
}

export interface LinkToken {
  token: string;
  expires_at: string;
  deep_link: string | null;
  start_command: string;
}

/** A write an AI answer's tool proposed instead of making it (applied only when approved). */
export interface Proposal {
  id: string;
  chat_id: string | null;
  message_id: number | null;
  role_code: string;
  tool: string;
  action: "create" | "update" | "delete" | string;
  target_type: string;
  target_id: string | null;
  payload: Record<string, unknown>;
  summary: string;
  status: "pending" | "applied" | "rejected" | "failed" | "conflict";
  status_reason: string | null;
  result: Record<string, unknown> | null;
  decided_by: string | null;
  decided_at: string | null;
  created_at: string;
}

/** One model server of the fleet, as `/health` lists it. */
export interface ModelServer {
  name: string;
  provider: string;
  model: string;
  capacity: number;
  slots_in_use: number;
  state: "healthy" | "ejected";
  ejected_until: string | null;
  consecutive_failures: number;
  last_error: string | null;
  reachable?: boolean;
  model_present?: boolean;
  error?: string | null;
}

/** `GET /health`: the database, the AI queue and every model server. */
export interface HealthReport {
  status: "ok" | "degraded" | "unavailable";
  version: string;
  database: { ok: boolean; latency_ms: number; error: string | null };
  ai: { active_jobs: number; queue_length: number | null };
  llm_backends: ModelServer[];
}
