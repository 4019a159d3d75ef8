// The engine is restarted (killed and started again) while a chat is open: the page
// reconnects by itself and shows every message posted around the restart, each once.
import { expect, test } from "@playwright/test";
import { account, control, seed } from "../lib/data";
import { login, messages, send } from "../lib/ui";

test("after an engine restart the open chat reconnects and misses nothing", async ({ page }) => {
  const chat = seed().chats.restart;
  await login(page, account("alice"), `/chats/${chat.id}`);
  const view = page.getByTestId("chat-view");
  await expect(view).toHaveAttribute("data-stream-state", "open");
  await send(page, "Начинаем совещание");
  await expect(messages(page).last()).toContainText("Начинаем совещание");

  const restarted = await control<{ before: string[]; after: string[] }>("restart-engine", {
    chat: "restart",
  });

  await expect(view).toHaveAttribute("data-stream-state", "open", { timeout: 30_000 });
  const expected = ["Начинаем совещание", ...restarted.before, ...restarted.after];
  for (const text of expected) {
    await expect(messages(page).filter({ hasText: text })).toHaveCount(1, { timeout: 30_000 });
  }
  const shown = await messages(page).getByTestId("message-content").allTextContents();
  const order = expected.map((text) => shown.findIndex((s) => s.includes(text)));
  expect(order).toEqual([...order].sort((a, b) => a - b));

  await send(page, "Связь восстановлена");
  await expect(messages(page).filter({ hasText: "Связь восстановлена" })).toHaveCount(1);
});
