// Messages carrying markup meant to run script: an <img onerror>, javascript: links and a
// <script>, from a person (plain text) and inside an AI answer (Markdown). Nothing may run.
import { expect, test, type Page } from "@playwright/test";
import { account, seed } from "../lib/data";
import { aiMessages, login, messages, recordDialogs, send } from "../lib/ui";

declare global {
  interface Window {
    __xss?: string;
  }
}

async function nothingRan(page: Page, dialogs: string[]) {
  expect(await page.evaluate(() => window.__xss)).toBeUndefined();
  expect(dialogs).toEqual([]);
  const list = page.getByTestId("message-list");
  await expect(list.locator("img")).toHaveCount(0);
  await expect(list.locator("script")).toHaveCount(0);
  const unsafe = await list.evaluate((root) =>
    [...root.querySelectorAll("[href], [src], [onerror], [onclick]")]
      .map((node) => node.outerHTML)
      .filter((html) => /javascript:|onerror|onclick/i.test(html)),
  );
  expect(unsafe).toEqual([]);
}

test("markup in messages and AI answers is shown as text and runs nothing", async ({ page }) => {
  const dialogs = recordDialogs(page);
  const chat = seed().chats.xss;
  await login(page, account("alice"), `/chats/${chat.id}`);

  const list = page.getByTestId("message-list");
  await expect(list).toContainText(seed().texts.xss_user_img);
  await expect(list).toContainText(seed().texts.xss_user_link);

  const answer = aiMessages(page).last();
  await expect(answer.getByTestId("ai-status")).toHaveAttribute("data-status", "done");
  const content = answer.getByTestId("message-content");
  await expect(content).toContainText("Проверка разметки");
  await expect(content).toContainText("<img src=x onerror=");
  await expect(content.locator("strong", { hasText: "жирный текст" })).toBeVisible();
  await nothingRan(page, dialogs);

  // Following the neutralised links does nothing either.
  for (const name of ["опасная ссылка", "нажми меня"]) {
    const link = list.getByRole("link", { name });
    if ((await link.count()) > 0) await link.first().click({ noWaitAfter: true });
  }

  // The same, typed live by the person in the composer.
  const live = "<img src=y onerror=\"window.__xss='live';alert('live')\"> <script>window.__xss='s'</script>";
  await send(page, live);
  await expect(messages(page).last().getByTestId("message-content")).toHaveText(live);
  await nothingRan(page, dialogs);
  await expect(page).toHaveURL(new RegExp(`/chats/${chat.id}$`));
});
