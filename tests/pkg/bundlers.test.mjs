// weftdb as a web developer gets it from npm: `npm pack` of pkg/, installed
// into a minimal app that Vite 6, 7 and 8 serve (dev server) and build
// (production build + `vite preview`), and into a page of plain ES modules
// on a static server. Each runs in Chromium, where the app opens a database,
// creates a document and reads it back; the test reads the page's result.
//
// Each Vite version's app is its own directory (vite6/, vite7/, vite8/) with
// its own package.json and package-lock.json (`npm ci` by .ci/setup). With
// `vite.config.js` the app uses the package's plugin (`weftdb/vite`, as the
// package README says); with `plain.config.js` it has no configuration; with
// `exclude.config.js` (Vite 6 and 7) it sets what the plugin sets by hand.
//
//   node --test --test-reporter=spec tests/pkg/bundlers.test.mjs   (needs pkg/)
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { launchChromium, watchPage } from "../browser/lib.mjs";
import { serve } from "../browser/serve.mjs";
import { HERE, freePort, installPacked, run, startServer } from "./lib.mjs";

const VITES = [6, 7, 8];
// Vite 6 and 7 pre-bundle weftdb into node_modules/.vite/deps/, where
// `new URL("weftdb_bg.wasm", import.meta.url)` names no file: their dev
// server answers with index.html (text/html) and instantiating fails. The
// plugin (optimizeDeps.exclude) is what makes them work; Vite 8 needs nothing.
const DEV_NEEDS_PLUGIN = new Set([6, 7]);

let browser;
const out = fs.mkdtempSync(path.join(os.tmpdir(), "weftdb-bundlers-"));

/** Opens `url` in a fresh context and returns what the app wrote in #out. */
async function runApp(url) {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const problems = watchPage(page);
    await page.goto(url);
    await page.waitForSelector("#out[data-done]", { state: "attached", timeout: 60_000 });
    const result = JSON.parse(await page.textContent("#out"));
    return { ...result, problems };
  } finally {
    await context.close();
  }
}

function assertWorks(result) {
  assert.equal(result.ok, true, `the app failed: ${JSON.stringify(result)}`);
  assert.match(result.id, /^\w+$/);
  assert.deepEqual(result.doc, { _id: result.id, title: "Dune", pages: 412 });
}

function copyApp(dir) {
  fs.copyFileSync(path.join(HERE, "app.js"), path.join(dir, "main.js"));
  if (!dir.endsWith("esm")) fs.copyFileSync(path.join(HERE, "index.html"), path.join(dir, "index.html"));
}

before(async () => {
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  fs.rmSync(out, { recursive: true, force: true });
});

for (const v of VITES) {
  const dir = path.join(HERE, `vite${v}`);
  const vite = path.join(dir, "node_modules", "vite", "bin", "vite.js");
  const manifest = path.join(dir, "node_modules", "vite", "package.json");
  const version = fs.existsSync(manifest) ? JSON.parse(fs.readFileSync(manifest, "utf8")).version : `${v} (not installed)`;

  describe(`Vite ${version}`, () => {
    before(() => {
      assert.ok(fs.existsSync(vite), `${vite} missing: npm ci in tests/pkg/vite${v} (bash .ci/setup)`);
      copyApp(dir);
      installPacked(dir);
    });

    /** `vite` (the dev server) with `config`; the app's result. */
    async function dev(config) {
      const port = await freePort();
      const url = `http://127.0.0.1:${port}/`;
      const args = [vite, "--config", config, "--host", "127.0.0.1", "--port", String(port), "--strictPort", "--force"];
      const server = await startServer(process.execPath, args, { cwd: dir, url });
      try {
        return await runApp(url);
      } finally {
        await server.stop();
      }
    }

    test("dev server, with the weftdb/vite plugin", async () => {
      assertWorks(await dev("vite.config.js"));
    });

    for (const [how, config] of [["with the plugin", "vite.config.js"], ["without configuration", "plain.config.js"]]) {
      test(`production build ${how}, served by vite preview`, async () => {
        const dist = path.join(out, `vite${v}-${path.basename(config, ".js")}`);
        run(process.execPath, [vite, "build", "--config", config, "--outDir", dist, "--emptyOutDir"], { cwd: dir });
        const wasm = fs.readdirSync(path.join(dist, "assets")).filter((f) => f.endsWith(".wasm"));
        assert.equal(wasm.length, 1, "the build emits the wasm as one asset");
        const port = await freePort();
        const url = `http://127.0.0.1:${port}/`;
        const args = [vite, "preview", "--config", config, "--outDir", dist, "--host", "127.0.0.1", "--port", String(port)];
        const server = await startServer(process.execPath, [...args, "--strictPort"], { cwd: dir, url });
        try {
          assertWorks(await runApp(url));
        } finally {
          await server.stop();
        }
      });
    }

    if (DEV_NEEDS_PLUGIN.has(v)) {
      test("dev server, with optimizeDeps.exclude written by hand", async () => {
        assertWorks(await dev("exclude.config.js"));
      });
      test("dev server without configuration fails (why the plugin exists)", async () => {
        const result = await dev("plain.config.js");
        assert.equal(result.ok, false, "Vite now serves the pre-bundled wasm: the README's Vite note can go");
        assert.match(result.error, /magic word|WebAssembly/);
      });
    } else {
      test("dev server without configuration", async () => {
        assertWorks(await dev("plain.config.js"));
      });
    }
  });
}

test("plain ES modules from a static server (an import map names weftdb)", async () => {
  const dir = path.join(HERE, "esm");
  copyApp(dir);
  installPacked(dir);
  const server = await serve({ root: dir, nodeModules: path.join(dir, "node_modules") });
  try {
    assertWorks(await runApp(`${server.url}/index.html`));
  } finally {
    await server.close();
  }
});
