#!/usr/bin/env node
// Smoke run of the Yjs + y-webrtc baseline (not a *.test.mjs: CI does not run it).
//
//   node tests/browser/yjs-baseline.smoke.mjs [--writes=50] [--missed=1000]
//
// Launches Debian's Chromium, serves the repository root on 127.0.0.1 and
// prints measureYjs()'s result as JSON (progress lines go to stderr).
import { serve } from "./serve.mjs";
import { REPO_ROOT, CHROMIUM_ARGS, CHROMIUM_WEBRTC_ARGS, launchChromium } from "./lib.mjs";
import { measureYjs } from "./yjs-baseline.mjs";

const opts = { writes: 50, missed: 1000 };
for (const a of process.argv.slice(2)) {
  const m = /^--(writes|missed)=(\d+)$/.exec(a);
  if (!m) {
    console.error(`usage: node tests/browser/yjs-baseline.smoke.mjs [--writes=N] [--missed=N]`);
    process.exit(2);
  }
  opts[m[1]] = Number(m[2]);
}

let server;
let browser;
try {
  server = await serve({ root: REPO_ROOT, port: 0 });
  browser = await launchChromium({ args: [...CHROMIUM_ARGS, ...CHROMIUM_WEBRTC_ARGS] });
  const result = await measureYjs({
    browser,
    baseUrl: server.url,
    ...opts,
    log: (msg) => console.error(msg),
  });
  console.log(JSON.stringify(result, null, 2));
} catch (e) {
  console.error(e.stack || String(e));
  process.exitCode = 1;
} finally {
  await browser?.close().catch(() => {});
  await server?.close();
}
