// Run by tests/web/test_e2e.py against a live engine (E2E_BASE_URL) that serves the built
// client; the browser is Debian's chromium, never one downloaded by Playwright.
import { defineConfig } from "@playwright/test";

const artifacts = process.env.E2E_ARTIFACTS_DIR ?? "../../test-artifacts";

export default defineConfig({
  testDir: "./tests",
  timeout: 60_000,
  expect: { timeout: 15_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  forbidOnly: true,
  reporter: [["list"], ["json"]],
  outputDir: `${artifacts}/e2e-results`,
  use: {
    baseURL: process.env.E2E_BASE_URL ?? "http://127.0.0.1:8100",
    viewport: { width: 1280, height: 800 },
    locale: "ru-RU",
    timezoneId: "Europe/Moscow",
    screenshot: "only-on-failure",
    trace: "retain-on-failure",
    launchOptions: {
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
    },
  },
  projects: [{ name: "chromium", use: { browserName: "chromium" } }],
});
