// Screens not covered by a scenario, shot at both widths for people to look at.
import { expect, test } from "@playwright/test";
import { account } from "../lib/data";
import { login } from "../lib/ui";
import { shootBothWidths } from "../lib/screens";

test("notifications and profile screens", async ({ page }) => {
  await login(page, account("alice"), "/notifications");
  await expect(page.getByTestId("notifications-page")).toBeVisible();
  await expect(page.getByTestId("channel-list")).toBeVisible();
  await shootBothWidths(page, "notifications");

  await page.getByTestId("nav-profile").click();
  await expect(page.getByTestId("profile-form")).toBeVisible();
  await shootBothWidths(page, "profile");
});

test("an unknown page says so", async ({ page }) => {
  await login(page, account("alice"), "/no/such/page");
  await expect(page.getByTestId("not-found")).toBeVisible();
});
