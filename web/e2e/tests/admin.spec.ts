// An organization's admin creates a user, who then logs in; a person of another
// organization sees nothing of the first one.
import { expect, test } from "@playwright/test";
import { account, seed, type Account } from "../lib/data";
import { login, personAt } from "../lib/ui";
import { shootBothWidths } from "../lib/screens";

test("an org admin creates a user who logs in, then deactivates them", async ({ page, browser }) => {
  await login(page, account("boss"), "/admin/users");
  await expect(page.getByTestId("users-page")).toBeVisible();
  const list = page.getByTestId("user-list");
  await expect(list.locator('[data-testid="user-item"][data-username="alice"]')).toBeVisible();

  await page.getByTestId("user-username").fill("dmitry");
  await page.getByTestId("user-password").fill("dmitry-password-1");
  await page.getByTestId("user-full-name").fill("Дмитрий Орлов");
  await page.getByTestId("user-submit").click();
  const dmitryItem = list.locator('[data-testid="user-item"][data-username="dmitry"]');
  await expect(dmitryItem).toBeVisible();
  await expect(dmitryItem).toHaveAttribute("data-active", "true");
  await shootBothWidths(page, "admin-users");

  const dmitry: Account = {
    id: "",
    username: "dmitry",
    password: "dmitry-password-1",
    organization: account("boss").organization,
  };
  const his = await personAt(browser, dmitry, "/chats");
  await expect(his.getByTestId("current-user")).toContainText("Дмитрий Орлов");
  await expect(his.getByTestId("nav-users")).toHaveCount(0);
  await his.context().close();

  page.on("dialog", (dialog) => void dialog.accept());
  await dmitryItem.getByTestId("user-toggle-active").click();
  await expect(dmitryItem).toHaveAttribute("data-active", "false");

  const again = await browser.newPage();
  await again.goto("/login");
  await again.getByTestId("login-organization").fill(dmitry.organization);
  await again.getByTestId("login-username").fill(dmitry.username);
  await again.getByTestId("login-password").fill(dmitry.password);
  await again.getByTestId("login-submit").click();
  await expect(again.getByTestId("login-error")).toBeVisible();
});

test("a person of another organization sees nothing of the first", async ({ page }) => {
  const acme = seed().chats;
  await login(page, account("carol"), "/chats");
  const chats = page.getByTestId("chat-list");
  await expect(chats).toContainText("Внутренний чат Globex");
  for (const chat of Object.values(acme)) await expect(chats).not.toContainText(chat.title);

  await page.goto(`/chats/${acme.lawyer.id}`);
  await expect(page.getByTestId("not-found")).toBeVisible();
  await expect(page.getByText("Можно ли расторгнуть")).toHaveCount(0);

  await page.goto("/chats");
  await page.getByTestId("new-chat").click();
  await page.getByTestId("new-chat-search").fill("alice");
  await expect(page.locator('[data-testid="new-chat-member"][data-username="alice"]')).toHaveCount(0);
  await page.getByTestId("new-chat-search").fill("");
  await expect(page.locator('[data-testid="new-chat-member"][data-username="bob"]')).toHaveCount(0);
  await page.keyboard.press("Escape");

  await page.goto("/admin/users");
  await expect(page.getByTestId("not-found")).toBeVisible();
});

test("the other organization's admin does not see the first one's users", async ({ page }) => {
  await login(page, account("globex_boss"), "/admin/users");
  const list = page.getByTestId("user-list");
  await expect(list.locator('[data-testid="user-item"][data-username="carol"]')).toBeVisible();
  for (const username of ["alice", "bob", "dmitry"]) {
    await expect(list.locator(`[data-testid="user-item"][data-username="${username}"]`)).toHaveCount(0);
  }
});

test("the system administrator sees the model servers and the AI queue", async ({ page }) => {
  await login(page, account("root"), "/admin/system");
  await expect(page.getByTestId("system-page")).toBeVisible();
  await expect(page.getByTestId("system-summary")).toHaveAttribute("data-status", "ok");
  await expect(page.getByTestId("system-database")).toContainText("отвечает");
  await expect(page.getByTestId("system-queue")).toBeVisible();
  const server = page.locator('[data-testid="model-server"][data-name="default"]');
  await expect(server).toHaveAttribute("data-state", "healthy");
  await expect(server).toContainText("Работает");
  await expect(server.getByTestId("model-server-slots")).toContainText(/\d+ из \d+/);
  await shootBothWidths(page, "admin-system");

  // nobody else is shown the page or its link
  const alice = await personAt(page.context().browser()!, account("alice"), "/admin/system");
  await expect(alice.getByTestId("not-found")).toBeVisible();
  await expect(alice.getByTestId("nav-system")).toHaveCount(0);
  await alice.context().close();
});
