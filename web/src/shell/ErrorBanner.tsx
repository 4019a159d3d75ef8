import { useTranslation } from "react-i18next";
import { clearBanner, useBanner } from "./banner";

export function ErrorBanner() {
  const { t } = useTranslation();
  const banner = useBanner();
  if (!banner) return null;
  return (
    <div className="banner" role="alert" data-testid="retry-banner">
      <span>{t(banner.kind === "network" ? "banner.network" : "banner.server")}</span>
      <button
        type="button"
        data-testid="retry-banner-button"
        onClick={() => {
          clearBanner();
          banner.retry();
        }}
      >
        {t("banner.retry")}
      </button>
    </div>
  );
}
