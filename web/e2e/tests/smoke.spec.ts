import { expect, test } from "@playwright/test";
import { account } from "../lib/data";
import { login } from "../lib/ui";
import { shootBothWidths } from "../lib/screens";

test("the login page loads and a member logs in", async ({ page }) => {
  await page.goto("/");
  await expect(page.getByTestId("login-form")).toBeVisible();
  await shootBothWidths(page, "login");

  await login(page, account("alice"));
  await expect(page.getByTestId("current-user")).toBeVisible();
  await expect(page).toHaveURL(/\/chats/);
});

test("a wrong password is refused on the page", async ({ page }) => {
  await page.goto("/login");
  const alice = account("alice");
  await page.getByTestId("login-organization").fill(alice.organization);
  await page.getByTestId("login-username").fill(alice.username);
  await page.getByTestId("login-password").fill("not-the-password");
  await page.getByTestId("login-submit").click();
  await expect(page.getByTestId("login-error")).toBeVisible();
  await expect(page.getByTestId("main-nav")).toHaveCount(0);
});
