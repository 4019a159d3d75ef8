// Screenshots of the main screens at a desktop and a phone width, for people to look at.
import { expect, type Page } from "@playwright/test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

const folder = join(process.env.E2E_ARTIFACTS_DIR ?? "../../test-artifacts", "screenshots");

/** Saves `<name>-desktop.png` and `<name>-phone.png`, leaving the page at desktop width. */
export async function shootBothWidths(page: Page, name: string, settle?: () => Promise<void>) {
  mkdirSync(folder, { recursive: true });
  for (const [label, size] of [["phone", PHONE], ["desktop", DESKTOP]] as const) {
    await page.setViewportSize(size);
    if (settle) await settle();
    await page.screenshot({ path: join(folder, `${name}-${label}.png`), fullPage: false });
    // Usable at this width: the page itself never scrolls sideways (wide tables scroll
    // inside their own box).
    const sideways = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(sideways, `${name} at ${label} width scrolls sideways by ${sideways}px`).toBeLessThanOrEqual(0);
  }
}
