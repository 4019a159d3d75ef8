// A calendar event made in the client fires (the engine's scheduler ticks every second) and
// its run, with the agent's answer, shows up on the event's page.
import { expect, test } from "@playwright/test";
import { account, seed } from "../lib/data";
import { login } from "../lib/ui";
import { shootBothWidths } from "../lib/screens";

test("the form previews the next occurrences from the engine", async ({ page }) => {
  await login(page, account("bob"), "/calendar");
  await page.getByTestId("event-new").click();
  await page.getByTestId("event-kind-recurring").click();
  await page.getByTestId("event-title").fill("Еженедельный отчёт");
  await page.getByTestId("event-cron").fill("0 9 * * 1");
  await page.getByTestId("event-preview-button").click();
  const items = page.getByTestId("event-preview-item");
  await expect(items.first()).toBeVisible();
  expect(await items.count()).toBeGreaterThan(1);
  await expect(items.first()).toContainText("09:00");
});

test("an event created in the client fires and shows its run with the answer", async ({ page }) => {
  await login(page, account("alice"), "/calendar");
  await expect(page.getByTestId("calendar-page")).toBeVisible();
  await page.getByTestId("event-new").click();

  const form = page.getByTestId("event-form");
  await expect(form).toBeVisible();
  // In three minutes on the browser's own wall clock (the form's default zone), reminded ten
  // minutes before: the reminder is due at once, so the scheduler runs the agent now.
  const startsAt = await page.evaluate(() => {
    const at = new Date(Date.now() + 3 * 60_000);
    const pad = (n: number) => String(n).padStart(2, "0");
    return `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}T${pad(at.getHours())}:${pad(at.getMinutes())}`;
  });
  await page.getByTestId("event-title").fill("Планёрка с юристом");
  await page.getByTestId("event-starts-at").fill(startsAt);
  await page.getByTestId("event-remind").fill("10");
  await page.getByTestId("event-role").selectOption("lawyer");
  await page.getByTestId("event-prompt").fill("Подготовь сводку к планёрке");

  await page.getByTestId("event-save").click();

  const details = page.getByTestId("event-details");
  await expect(details).toBeVisible();
  await expect(details).toContainText("Планёрка с юристом");
  await expect(details.getByTestId("run-answer")).toContainText(seed().texts.calendar_answer, {
    timeout: 45_000,
  });
  await expect(details.getByTestId("run-item").first()).toHaveAttribute("data-status", /done|notified/);
  // fired once, a one-time event has no next run: the page says so without a reload
  await expect(details).not.toContainText("Следующий запуск");

  await expect(page.getByTestId("event-list-item").filter({ hasText: "Планёрка с юристом" })).toHaveCount(1);
  await shootBothWidths(page, "calendar");
});
