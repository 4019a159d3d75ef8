import { useTranslation } from "react-i18next";
import { setLang } from "../i18n";

export function LanguageSwitch() {
  const { t, i18n } = useTranslation();
  return (
    <button
      type="button"
      className="link-button"
      data-testid="language-switch"
      lang={i18n.language === "en" ? "ru" : "en"}
      onClick={() => setLang(i18n.language === "en" ? "ru" : "en")}
    >
      {t("nav.language")}
    </button>
  );
}
