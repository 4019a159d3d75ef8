// Browser half of bench/web_client.py: Debian's chromium, driven by Playwright's library.
// Input in environment variables, one JSON line with the measurements on stdout.
//   BASE_URL, ORGANIZATION, USERNAME, PASSWORD  the engine serving the client; a member
//   CHAT_50       a chat holding "Сообщение 01" .. "Сообщение 50"
//   CHAT_AI       an empty chat; QUESTION is posted there and TOKENS marker words stream back
//   LOADS         how many times the 50-message chat is opened
import { chromium } from "@playwright/test";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const base = env("BASE_URL");
const loads = Number(process.env.LOADS ?? "10");
const tokens = Number(env("TOKENS"));

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
  ],
});
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, baseURL: base });
  const page = await context.newPage();
  await page.goto("/login");
  await page.getByTestId("login-organization").fill(env("ORGANIZATION"));
  await page.getByTestId("login-username").fill(env("USERNAME"));
  await page.getByTestId("login-password").fill(env("PASSWORD"));
  await page.getByTestId("login-submit").click();
  await page.getByTestId("main-nav").waitFor();

  // 1. Navigation to a chat with 50 messages: ms from navigation start until the oldest and
  // the newest of them are both rendered (checked on every animation frame).
  const chatLoads = [];
  for (let run = 0; run <= loads; run++) {
    await page.goto(`/chats/${env("CHAT_50")}`, { waitUntil: "commit" });
    const visibleAt = await page.waitForFunction(
      () => {
        const text = document.body?.innerText ?? "";
        return text.includes("Сообщение 01") && text.includes("Сообщение 50")
          ? performance.now()
          : false;
      },
      null,
      { polling: "raf", timeout: 30_000 },
    );
    const ms = await visibleAt.jsonValue();
    if (run > 0) chatLoads.push(ms); // run 0 warms the HTTP cache, as for a returning user
  }

  // 2. AI tokens: the wall-clock time each marker word first appears in the page.
  await page.goto(`/chats/${env("CHAT_AI")}`);
  await page.getByTestId("composer-input").waitFor();
  await page.evaluate((count) => {
    const seen = [];
    window.__tokensSeen = seen;
    const marker = (n) => `w${String(n).padStart(3, "0")}`;
    const observer = new MutationObserver(() => {
      const text = document.body.textContent ?? "";
      const now = performance.timeOrigin + performance.now();
      while (seen.length < count && text.includes(marker(seen.length + 1))) seen.push(now);
      if (seen.length >= count) observer.disconnect();
    });
    observer.observe(document.body, { subtree: true, childList: true, characterData: true });
  }, tokens);
  await page.getByTestId("composer-input").fill(env("QUESTION"));
  await page.getByTestId("composer-send").click();
  await page.waitForFunction((count) => window.__tokensSeen.length >= count, tokens, {
    timeout: 120_000,
  });
  const tokenSeenAt = await page.evaluate(() => window.__tokensSeen);
  process.stdout.write(JSON.stringify({ chatLoads, tokenSeenAt }) + "\n");
} finally {
  await browser.close();
}
