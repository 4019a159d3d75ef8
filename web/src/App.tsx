import { lazy } from "react";
import { QueryClientProvider } from "@tanstack/react-query";
import { BrowserRouter, Navigate, Route, Routes } from "react-router";
import LoginPage from "./auth/LoginPage";
import { Layout } from "./shell/Layout";
import { NotFound } from "./shell/NotFound";
import { queryClient } from "./shell/queryClient";
import { ChatsPage } from "./chats/ChatsPage";
import { isAdmin, isSystemAdmin, useCurrentUser } from "./auth/session";

import ChatView from "./chats/ChatView";
const ProfilePage = lazy(() => import("./auth/ProfilePage"));
const CalendarPage = lazy(() => import("./calendar/CalendarPage"));
const NotificationsPage = lazy(() => import("./notifications/NotificationsPage"));
const UsersPage = lazy(() => import("./admin/UsersPage"));
const DocumentsPage = lazy(() => import("./admin/DocumentsPage"));
const OrganizationsPage = lazy(() => import("./admin/OrganizationsPage"));
const SystemPage = lazy(() => import("./admin/SystemPage"));

/** Admin screens are hidden from others (the API refuses them anyway). */
function AdminOnly({ system = false, children }: { system?: boolean; children: React.ReactNode }) {
  const user = useCurrentUser();
  return (system ? isSystemAdmin(user) : isAdmin(user)) ? <>{children}</> : <NotFound />;
}

export function App() {
  return (
    <QueryClientProvider client={queryClient}>
      <BrowserRouter>
        <Routes>
          <Route path="/login" element={<LoginPage />} />
          <Route element={<Layout />}>
            <Route index element={<Navigate to="/chats" replace />} />
            <Route path="chats" element={<ChatsPage />}>
              <Route path=":chatId" element={<ChatView />} />
            </Route>
            <Route path="calendar" element={<CalendarPage />} />
            <Route path="calendar/events/:eventId" element={<CalendarPage />} />
            <Route path="notifications" element={<NotificationsPage />} />
            <Route path="profile" element={<ProfilePage />} />
            <Route
              path="admin/users"
              element={
                <AdminOnly>
                  <UsersPage />
                </AdminOnly>
              }
            />
            <Route
              path="admin/documents"
              element={
                <AdminOnly>
                  <DocumentsPage />
                </AdminOnly>
              }
            />
            <Route
              path="admin/organizations"
              element={
                <AdminOnly system>
                  <OrganizationsPage />
                </AdminOnly>
              }
            />
            <Route
              path="admin/system"
              element={
                <AdminOnly system>
                  <SystemPage />
                </AdminOnly>
              }
            />
            <Route path="*" element={<NotFound />} />
          </Route>
        </Routes>
      </BrowserRouter>
    </QueryClientProvider>
  );
}
