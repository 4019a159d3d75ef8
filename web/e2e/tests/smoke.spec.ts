import { expect, test } from "@playwright/test";
import { account } from "../lib/data";
import { login } from "../lib/ui";
import { shootBothWidths } from "../lib/screens";

test("the login page loads and a member logs in", async ({ page }) => {
  await page.goto("/");
  await expect(page.getByTestId("login-form")).toBeVisible();
  await shootBothWidths(page, "login");

  await login(page, account("alice"));
  await expect(page.getByTestId("app-shell")).toBeVisible();
});
