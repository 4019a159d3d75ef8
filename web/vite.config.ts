import { defineConfig } from "vitest/config";
import react from "@vitejs/plugin-react";

// The dev server proxies the API to an engine on ENGINE_URL (default: the local one).
const engine = process.env.ENGINE_URL ?? "http://127.0.0.1:8100";

export default defineConfig({
  plugins: [react()],
  server: {
    host: "127.0.0.1",
    proxy: { "/api": { target: engine, changeOrigin: false } },
  },
  build: { target: "es2022", sourcemap: false, manifest: true },
  test: { environment: "node", include: ["src/**/*.test.ts", "src/**/*.test.tsx"] },
});
