// The client's own selectors (data-testid, see web/TESTING.md) in one place.
import { expect, type Page } from "@playwright/test";
import type { Account } from "./data";

export async function login(page: Page, who: Account, path = "/") {
  await page.goto(path);
  await expect(page.getByTestId("login-form")).toBeVisible();
  await page.getByTestId("login-organization").fill(who.organization);
  await page.getByTestId("login-username").fill(who.username);
  await page.getByTestId("login-password").fill(who.password);
  await page.getByTestId("login-submit").click();
  await expect(page.getByTestId("login-form")).toBeHidden();
}

/** Fails the test on any dialog (alert/confirm/prompt) the page opens by itself. */
export function forbidDialogs(page: Page, opened: string[]) {
  page.on("dialog", async (dialog) => {
    opened.push(`${dialog.type()}: ${dialog.message()}`);
    await dialog.dismiss();
  });
}
