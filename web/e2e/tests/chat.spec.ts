// Two people of one organization in one chat: one asks @@lawyer, the other watches the
// answer being typed, live, and validates it; the first sees the validation appear.
import { expect, test } from "@playwright/test";
import { account, seed } from "../lib/data";
import { aiMessages, personAt, send } from "../lib/ui";
import { shootBothWidths } from "../lib/screens";

test("an @@lawyer answer streams to another member, who validates it", async ({ browser }) => {
  const chat = seed().chats.lawyer;
  const answer = seed().texts.lawyer_answer;
  const alice = await personAt(browser, account("alice"), `/chats/${chat.id}`);
  const bob = await personAt(browser, account("bob"), `/chats/${chat.id}`);
  for (const page of [alice, bob]) {
    await expect(page.getByTestId("chat-title")).toHaveText(chat.title);
    await expect(page.getByTestId("chat-view")).toHaveAttribute("data-stream-state", "open");
  }

  // Armed before the question is sent: true once Bob's page shows a running answer that
  // already has text but not yet its end, i.e. tokens arriving one by one.
  const sawPartial = bob.waitForFunction(
    (ending) =>
      [...document.querySelectorAll('[data-testid="message"][data-kind="ai"]')].some((node) => {
        const text = node.querySelector('[data-testid="message-content"]')?.textContent ?? "";
        return node.getAttribute("data-ai-status") === "running" && text.length > 10 && !text.includes(ending);
      }),
    "подтверждение его получения",
    { polling: "raf", timeout: 30_000 },
  );
  await send(alice, "@@lawyer Можно ли расторгнуть договор поставки в одностороннем порядке?");
  await sawPartial;

  const onBob = aiMessages(bob).last();
  await expect(onBob.getByTestId("ai-status")).toHaveAttribute("data-status", "done");
  await expect(onBob.getByTestId("message-content")).toContainText("подтверждение его получения");
  await expect(onBob.locator("strong", { hasText: "Короткий ответ:" })).toBeVisible();
  await expect(onBob.getByTestId("message-author")).toContainText("Юрист");
  await expect(onBob.getByTestId("message-content")).toHaveText(/договор поставки можно расторгнуть/);
  expect(answer).toContain("договор поставки");

  await onBob.getByTestId("validate-button").click();
  await expect(onBob.getByTestId("validation-info")).toHaveAttribute("data-validation", "validated");

  const onAlice = aiMessages(alice).last();
  await expect(onAlice.getByTestId("validation-info")).toHaveAttribute("data-validation", "validated");
  await expect(onAlice.getByTestId("validation-info")).toContainText("Борис Смирнов");
  await expect(onAlice.getByTestId("validate-button")).toHaveCount(0);

  await shootBothWidths(alice, "chat-view");
  await alice.goto("/chats");
  await expect(alice.getByTestId("chat-list-item").first()).toBeVisible();
  await shootBothWidths(alice, "chats");
});
