import { useState, type FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { auth, humanError } from "../api";
import { logout, setUser, useCurrentUser } from "./session";

export default function ProfilePage() {
  const { t } = useTranslation();
  const user = useCurrentUser();
  const [profile, setProfile] = useState({ full_name: user?.full_name ?? "", email: user?.email ?? "" });
  const [profileMsg, setProfileMsg] = useState<string | null>(null);
  const [passwords, setPasswords] = useState({ current: "", next: "" });
  const [passwordMsg, setPasswordMsg] = useState<string | null>(null);
  if (!user) return null;

  async function saveProfile(event: FormEvent) {
    event.preventDefault();
    try {
      const updated = await auth.updateMe({ full_name: profile.full_name, email: profile.email || null });
      setUser(updated);
      setProfileMsg(t("common.saved"));
    } catch (err) {
      setProfileMsg(humanError(err, t));
    }
  }

  async function changePassword(event: FormEvent) {
    event.preventDefault();
    try {
      await auth.changePassword(passwords.current, passwords.next);
      setPasswordMsg(t("profile.passwordChanged"));
      setTimeout(() => void logout(), 1500);
    } catch (err) {
      setPasswordMsg(humanError(err, t));
    }
  }

  return (
    <div className="page narrow">
      <h1>{t("profile.title")}</h1>
      <form className="card form" onSubmit={saveProfile} data-testid="profile-form">
        <p>
          {t("profile.username")}: <strong>{user.username}</strong> · {t("profile.role")}: {t(`roles.${user.role}`)}
        </p>
        <label>
          {t("profile.fullName")}
          <input value={profile.full_name} onChange={(e) => setProfile({ ...profile, full_name: e.target.value })} />
        </label>
        <label>
          {t("profile.email")}
          <input type="email" value={profile.email} onChange={(e) => setProfile({ ...profile, email: e.target.value })} />
        </label>
        {profileMsg && <p role="status">{profileMsg}</p>}
        <button className="primary">{t("common.save")}</button>
      </form>
      <form className="card form" onSubmit={changePassword} data-testid="password-form">
        <h2>{t("profile.changePassword")}</h2>
        <label>
          {t("profile.currentPassword")}
          <input
            type="password"
            autoComplete="current-password"
            required
            value={passwords.current}
            onChange={(e) => setPasswords({ ...passwords, current: e.target.value })}
          />
        </label>
        <label>
          {t("profile.newPassword")}
          <input
            type="password"
            autoComplete="new-password"
            required
            minLength={8}
            value={passwords.next}
            onChange={(e) => setPasswords({ ...passwords, next: e.target.value })}
          />
        </label>
        {passwordMsg && <p role="status">{passwordMsg}</p>}
        <button className="primary">{t("common.save")}</button>
      </form>
    </div>
  );
}
