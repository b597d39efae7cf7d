// Shared helpers for the browser tests and the benchmark script.
import path from "node:path";
import fs from "node:fs";
import { fileURLToPath } from "node:url";

export const HERE = path.dirname(fileURLToPath(import.meta.url));
/** The repository root. */
export const REPO_ROOT = path.resolve(HERE, "..", "..");
/**
 * The directory served as the web root: the repository root, unless
 * WEFTDB_WEB_ROOT points at another tree with the same www/ and pkg/ layout.
 */
export const WEB_ROOT = path.resolve(process.env.WEFTDB_WEB_ROOT || REPO_ROOT);

/** Debian's Chromium; no tool here may download a browser of its own. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || "/usr/bin/chromium";

/**
 * Flags for a headless, sandbox-less (root), offline-friendly Chromium.
 * The background-networking flags matter: this machine's network is closed,
 * and without them Chromium keeps trying to reach Google's hosts.
 */
export const CHROMIUM_ARGS = [
  "--headless=new",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-dev-shm-usage",
  "--disable-background-networking",
  "--disable-component-update",
  "--no-first-run",
  "--disable-sync",
];

/** Launch Debian's Chromium through playwright-core. */
export async function launchChromium(extra = {}) {
  if (!fs.existsSync(CHROMIUM_PATH)) {
    throw new Error(`${CHROMIUM_PATH} not found: run bash .ci/setup (apt-get install chromium chromium-driver)`);
  }
  const { chromium } = await import("playwright-core");
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 60_000,
    ...extra,
  });
}

/** Collect console errors and uncaught page errors, for failure messages. */
export function watchPage(page, { echo = false } = {}) {
  const problems = [];
  page.on("pageerror", (err) => {
    problems.push(`pageerror: ${err.message}`);
    if (echo) console.error(`[page] pageerror: ${err.message}`);
  });
  page.on("console", (msg) => {
    if (msg.type() === "error") problems.push(`console.error: ${msg.text()}`);
    if (echo) console.log(`[page:${msg.type()}] ${msg.text()}`);
  });
  return problems;
}
