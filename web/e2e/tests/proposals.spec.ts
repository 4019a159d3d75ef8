// An AI tool's write waits for a person: the accountant proposes a calendar event, both
// members see the proposal live, one applies it, and the event exists only then.
import { expect, test } from "@playwright/test";
import { account, seed } from "../lib/data";
import { aiMessages, personAt, send } from "../lib/ui";

test("a proposed calendar event is applied only when a member approves it", async ({ browser }) => {
  const chat = seed().chats.proposal;
  const title = seed().texts.proposed_title;
  const alice = await personAt(browser, account("alice"), `/chats/${chat.id}`);
  const bob = await personAt(browser, account("bob"), `/chats/${chat.id}`);
  for (const page of [alice, bob]) {
    await expect(page.getByTestId("chat-view")).toHaveAttribute("data-stream-state", "open");
  }

  await send(alice, "@@accountant proposal-probe поставь сверку с банком");
  const onBob = aiMessages(bob).last();
  await expect(onBob.getByTestId("ai-status")).toHaveAttribute("data-status", "done");
  const proposal = onBob.getByTestId("proposal");
  await expect(proposal).toHaveAttribute("data-status", "pending");
  await expect(proposal).toContainText(title);

  // Nothing changed yet: the event is not in Alice's calendar.
  const calendar = await personAt(browser, account("alice"), "/calendar");
  await expect(calendar.getByTestId("calendar-page")).toBeVisible();
  await expect(calendar.getByTestId("event-list-item").filter({ hasText: title })).toHaveCount(0);

  await proposal.getByTestId("proposal-approve").click();
  await expect(proposal).toHaveAttribute("data-status", "applied");
  await expect(proposal.getByTestId("proposal-approve")).toHaveCount(0);
  // Alice's page learns it over the stream.
  await expect(aiMessages(alice).last().getByTestId("proposal")).toHaveAttribute("data-status", "applied");

  // The event now exists; it belongs to Bob, who applied it, and Bob sees it in his calendar.
  await bob.goto("/calendar");
  await expect(bob.getByTestId("event-list-item").filter({ hasText: title })).toHaveCount(1);
});
