// Prints the gzipped size of the JavaScript that index.html loads at start (the entry chunk and
// its static imports, not the lazily loaded routes) and fails above the budget.
import { readFileSync, existsSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const BUDGET_KB = 200;
const dist = join(dirname(fileURLToPath(import.meta.url)), "..", "dist");
const manifestPath = join(dist, ".vite", "manifest.json");
if (!existsSync(manifestPath)) {
  console.error("bundle-size: dist/.vite/manifest.json missing (build.manifest must be on)");
  process.exit(1);
}
const manifest = JSON.parse(readFileSync(manifestPath, "utf8"));
const entry = Object.keys(manifest).find((key) => manifest[key].isEntry);
const initial = new Set();
const walk = (key) => {
  const chunk = manifest[key];
  if (!chunk || initial.has(chunk.file)) return;
  initial.add(chunk.file);
  for (const dep of chunk.imports ?? []) walk(dep);
};
walk(entry);

let total = 0;
let lazyTotal = 0;
for (const file of initial) {
  const size = gzipSync(readFileSync(join(dist, file)), { level: 9 }).length;
  total += size;
  console.log(`  initial ${file}  ${(size / 1024).toFixed(1)} KB gz`);
}
for (const chunk of Object.values(manifest)) {
  if (chunk.file.endsWith(".js") && !initial.has(chunk.file)) {
    lazyTotal += gzipSync(readFileSync(join(dist, chunk.file)), { level: 9 }).length;
  }
}
const kb = total / 1024;
console.log(`initial JavaScript: ${kb.toFixed(1)} KB gzipped (budget ${BUDGET_KB} KB); lazy chunks: ${(lazyTotal / 1024).toFixed(1)} KB gzipped`);
if (kb > BUDGET_KB) {
  console.error(`bundle-size: initial JavaScript over budget by ${(kb - BUDGET_KB).toFixed(1)} KB`);
  process.exit(1);
}
