// The client's own selectors (data-testid, see web/TESTING.md) in one place.
import { expect, type Browser, type Locator, type Page } from "@playwright/test";
import type { Account } from "./data";

/** Logs in on the login page the client shows for `path`, and lands on `path`. */
export async function login(page: Page, who: Account, path = "/chats") {
  await page.goto(path);
  await expect(page.getByTestId("login-form")).toBeVisible();
  await page.getByTestId("login-organization").fill(who.organization);
  await page.getByTestId("login-username").fill(who.username);
  await page.getByTestId("login-password").fill(who.password);
  await page.getByTestId("login-submit").click();
  await expect(page.getByTestId("main-nav")).toBeVisible();
  const wanted = new URL(path, page.url()).pathname;
  if (new URL(page.url()).pathname !== wanted) await page.goto(path);
}

/** A fresh browser profile (own storage) logged in as `who` on `path`. */
export async function personAt(browser: Browser, who: Account, path: string): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await login(page, who, path);
  return page;
}

export function messages(page: Page): Locator {
  return page.getByTestId("message-list").getByTestId("message");
}

export function aiMessages(page: Page): Locator {
  return page.locator('[data-testid="message"][data-kind="ai"]');
}

export async function send(page: Page, text: string) {
  const input = page.getByTestId("composer-input");
  await input.fill(text);
  await page.getByTestId("composer-send").click();
  await expect(input).toHaveValue("");
}

/** Records any dialog (alert/confirm/prompt) the page opens by itself, and dismisses it. */
export function recordDialogs(page: Page): string[] {
  const opened: string[] = [];
  page.on("dialog", async (dialog) => {
    opened.push(`${dialog.type()}: ${dialog.message()}`);
    await dialog.dismiss();
  });
  return opened;
}
