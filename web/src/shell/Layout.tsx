import { Suspense, useEffect, useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { auth } from "../api";
import { useTranslation } from "react-i18next";
import { Navigate, NavLink, Outlet, useLocation, useNavigate } from "react-router";
import { isAdmin, isSystemAdmin, logout, setUser, useCurrentUser } from "../auth/session";
import { ErrorBanner } from "./ErrorBanner";
import { LanguageSwitch } from "./LanguageSwitch";

/** Pages behind login; an unauthenticated visit goes to /login and comes back after it. */
export function Layout() {
  const { t } = useTranslation();
  const user = useCurrentUser();
  const location = useLocation();
  const navigate = useNavigate();
  const [menuOpen, setMenuOpen] = useState(false);
  // The stored user may be stale (role or name changed elsewhere): read it once per session.
  const me = useQuery({ queryKey: ["me", user?.id], queryFn: auth.me, enabled: !!user, staleTime: Infinity });
  useEffect(() => {
    if (me.data && JSON.stringify(me.data) !== JSON.stringify(user)) setUser(me.data);
  }, [me.data, user]);

  if (!user) {
    const next = location.pathname + location.search;
    return <Navigate to={`/login?next=${encodeURIComponent(next)}`} replace />;
  }

  const links: Array<[string, string, boolean]> = [
    ["/chats", t("nav.chats"), true],
    ["/calendar", t("nav.calendar"), true],
    ["/notifications", t("nav.notifications"), true],
    ["/admin/users", t("nav.users"), isAdmin(user)],
    ["/admin/documents", t("nav.documents"), isAdmin(user)],
    ["/admin/organizations", t("nav.organizations"), isSystemAdmin(user)],
    ["/admin/system", t("nav.system"), isSystemAdmin(user)],
    ["/profile", t("nav.profile"), true],
  ];

  return (
    <div className="app">
      <a className="skip-link" href="#main">
        {t("app.skip")}
      </a>
      <header className="topbar">
        <button
          type="button"
          className="menu-button"
          aria-expanded={menuOpen}
          aria-controls="main-nav"
          onClick={() => setMenuOpen(!menuOpen)}
        >
          ☰ <span className="sr-only">{t("nav.menu")}</span>
        </button>
        <strong className="brand">{t("app.name")}</strong>
        <nav id="main-nav" className={menuOpen ? "nav open" : "nav"} aria-label={t("nav.menu")} data-testid="main-nav">
          {links
            .filter(([, , visible]) => visible)
            .map(([to, label]) => (
              <NavLink key={to} to={to} onClick={() => setMenuOpen(false)} data-testid={`nav-${to.split("/").pop()}`}>
                {label}
              </NavLink>
            ))}
        </nav>
        <span className="user-name" data-testid="current-user">
          {user.full_name || user.username}
        </span>
        <LanguageSwitch />
        <button
          type="button"
          className="link-button"
          data-testid="logout"
          onClick={() => {
            void logout().then(() => navigate("/login"));
          }}
        >
          {t("nav.logout")}
        </button>
      </header>
      <ErrorBanner />
      <main id="main" className="content">
        <Suspense fallback={<p className="loading">{t("app.loading")}</p>}>
          <Outlet />
        </Suspense>
      </main>
    </div>
  );
}

