import { ApiClient } from "./client";
import { BrowserTokenStore } from "./tokens";
import type {
  CalendarEvent,
  Channel,
  Chat,
  DeliveryAttempt,
  DocumentSummary,
  EventInput,
  EventRun,
  HealthReport,
  LinkToken,
  LoginResponse,
  Message,
  MessagePage,
  Occurrence,
  Organization,
  PostedMessage,
  Proposal,
  Role,
  User,
} from "./types";

export { ApiClient } from "./client";
export { ApiError, humanError } from "./errors";
export type * from "./types";

/** The application's one API client. */
export const api = new ApiClient({ tokens: new BrowserTokenStore() });

export const auth = {
  login: (body: { login: string; password: string; organization?: string }) =>
    api.post<LoginResponse>("/auth/login", body, { auth: false }),
  logout: (refreshToken: string) =>
    api.post<void>("/auth/logout", { refresh_token: refreshToken }, { auth: false }),
  me: () => api.get<User>("/auth/me"),
  changePassword: (current_password: string, new_password: string) =>
    api.post<void>("/auth/password", { current_password, new_password }),
  updateMe: (body: { full_name?: string; email?: string | null }) => api.patch<User>("/users/me", body),
};

export const users = {
  list: (q?: string) => api.get<User[]>("/users", { limit: 200, q }),
  create: (body: { username: string; password: string; email?: string; full_name?: string; role: string }) =>
    api.post<User>("/users", body),
  deactivate: (id: string) => api.post<User>(`/users/${id}/deactivate`),
  activate: (id: string) => api.post<User>(`/users/${id}/activate`),
  resetPassword: (id: string, new_password: string) =>
    api.post<void>(`/users/${id}/reset-password`, { new_password }),
};

export const roles = {
  list: () => api.get<Role[]>("/roles"),
};

export const organizations = {
  list: () => api.get<Organization[]>("/organizations", { limit: 200 }),
  create: (body: {
    slug: string;
    name: string;
    admin?: { username: string; password: string; email?: string; full_name?: string };
  }) => api.post<Organization>("/organizations", body),
  setActive: (id: string, is_active: boolean) => api.patch<Organization>(`/organizations/${id}`, { is_active }),
};

export const system = {
  health: () => api.get<HealthReport>("/health"),
};

export const documents = {
  list: (orgId: string) => api.get<DocumentSummary[]>(`/organizations/${orgId}/documents`, { limit: 200 }),
  create: (orgId: string, title: string, content: string) =>
    api.post<DocumentSummary>(`/organizations/${orgId}/documents`, { title, content }),
  remove: (orgId: string, id: string) => api.delete(`/organizations/${orgId}/documents/${id}`),
};

export const chats = {
  list: (includeArchived = false) =>
    api.get<Chat[]>("/chats", { limit: 200, include_archived: includeArchived || undefined }),
  get: (id: string) => api.get<Chat>(`/chats/${id}`),
  create: (body: { kind: "group" | "direct"; title?: string; member_ids: string[] }) =>
    api.post<Chat>("/chats", body),
  rename: (id: string, title: string) => api.patch<Chat>(`/chats/${id}`, { title }),
  archive: (id: string) => api.delete(`/chats/${id}`),
  unarchive: (id: string) => api.post<Chat>(`/chats/${id}/unarchive`),
  addMember: (id: string, user_id: string) => api.post<Chat>(`/chats/${id}/members`, { user_id }),
  removeMember: (id: string, userId: string) => api.delete(`/chats/${id}/members/${userId}`),
  markRead: (id: string, message_id: number) => api.post<void>(`/chats/${id}/read`, { message_id }),
  messages: (id: string, cursor: { before_id?: number; after_id?: number; limit?: number }) =>
    api.get<MessagePage>(`/chats/${id}/messages`, { limit: 50, ...cursor }),
  message: (id: string, messageId: number) => api.get<Message>(`/chats/${id}/messages/${messageId}`),
  post: (id: string, content: string) => api.post<PostedMessage>(`/chats/${id}/messages`, { content }),
  edit: (id: string, messageId: number, content: string) =>
    api.patch<Message>(`/chats/${id}/messages/${messageId}`, { content }),
  remove: (id: string, messageId: number) => api.delete(`/chats/${id}/messages/${messageId}`),
  validate: (id: string, messageId: number) => api.post<Message>(`/chats/${id}/messages/${messageId}/validate`),
  reject: (id: string, messageId: number) => api.post<Message>(`/chats/${id}/messages/${messageId}/reject`),
  proposals: (id: string, messageId: number) =>
    api.get<Proposal[]>(`/chats/${id}/messages/${messageId}/proposals`),
  decideProposal: (id: string, proposalId: string, verdict: "approve" | "reject") =>
    api.post<Proposal>(`/chats/${id}/proposals/${proposalId}/${verdict}`),
};

export const calendar = {
  events: () => api.get<CalendarEvent[]>("/calendar/events", { limit: 200 }),
  event: (id: string) => api.get<CalendarEvent>(`/calendar/events/${id}`),
  create: (body: EventInput) => api.post<CalendarEvent>("/calendar/events", body),
  update: (id: string, body: Partial<EventInput>) => api.patch<CalendarEvent>(`/calendar/events/${id}`, body),
  remove: (id: string) => api.delete(`/calendar/events/${id}`),
  runs: (id: string) => api.get<EventRun[]>(`/calendar/events/${id}/runs`, { limit: 50 }),
  occurrences: (start: string, end: string) =>
    api.get<Occurrence[]>("/calendar/occurrences", { start, end, limit: 1000 }),
  preview: (body: Partial<EventInput> & { count?: number }) =>
    api.post<{ occurrences: string[] }>("/calendar/preview", body),
};

export const notifications = {
  channels: () => api.get<Channel[]>("/notifications/channels"),
  createChannel: (body: { type: "email" | "telegram"; address: string; priority: number; enabled: boolean }) =>
    api.post<Channel>("/notifications/channels", body),
  updateChannel: (id: string, body: { priority?: number; enabled?: boolean; address?: string }) =>
    api.patch<Channel>(`/notifications/channels/${id}`, body),
  deleteChannel: (id: string) => api.delete(`/notifications/channels/${id}`),
  test: (id: string) => api.post<DeliveryAttempt>(`/notifications/channels/${id}/test`),
  log: () => api.get<DeliveryAttempt[]>("/notifications/log", { limit: 100 }),
  linkToken: () => api.post<LinkToken>("/notifications/telegram/link-token"),
};
