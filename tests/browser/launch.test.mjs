// The Chromium the tests and benches launch: no renderer of the browser's
// own UI beside the pages (it took ~0.45 of a core from a reopened page's
// catch-up on this two-core machine), and no `--disable-features` switch
// undone by a later one (Chromium keeps only the last: Playwright's own,
// CHROMIUM_ARGS's and the WebRTC flags' are joined into one).
import { test } from "node:test";
import assert from "node:assert/strict";
import { CHROMIUM_ARGS, CHROMIUM_WEBRTC_ARGS, launchChromium, mergeFeatureSwitches } from "./lib.mjs";

test("several --disable-features switches are joined into one, in the first one's place, after the inherited", () => {
  assert.deepEqual(mergeFeatureSwitches(["--a", "--disable-features=X,Y", "--b", "--disable-features=Z, X,"], ["P"]), [
    "--a",
    "--disable-features=P,X,Y,Z",
    "--b",
  ]);
  assert.deepEqual(mergeFeatureSwitches(["--a", "--b"], ["P"]), ["--a", "--b"], "without a switch, the inherited one stands");
  assert.deepEqual(mergeFeatureSwitches(["--enable-features=E", "--disable-features=D"]), ["--enable-features=E", "--disable-features=D"]);
});

/** The browser's `--disable-features` switches, as its own command line shows them, and its `browser_ui` targets. */
async function launched(args) {
  const browser = await launchChromium(args ? { args } : {});
  try {
    const page = await (await browser.newContext()).newPage();
    await page.goto("chrome://version");
    const line = await page.evaluate(() => document.getElementById("command_line").textContent);
    const switches = line.split(/\s+/).filter((a) => a.startsWith("--disable-features=")).map((a) => a.slice(19).split(","));
    // The popup's pages are made with the window; give them time to show.
    await page.waitForTimeout(500);
    const cdp = await browser.newBrowserCDPSession();
    const { targetInfos } = await cdp.send("Target.getTargets", { filter: [{}] });
    return { switches, ui: targetInfos.filter((t) => t.type === "browser_ui").map((t) => t.url) };
  } finally {
    await browser.close();
  }
}

for (const [name, args] of [
  ["the default flags", null],
  ["the WebRTC flags", [...CHROMIUM_ARGS, ...CHROMIUM_WEBRTC_ARGS]],
]) {
  test(`a Chromium launched with ${name}: the last --disable-features keeps every earlier one's, and no address-bar popup renderer runs`, async () => {
    const { switches, ui } = await launched(args);
    assert.ok(switches.length >= 2, `Playwright's switch and ours: ${JSON.stringify(switches)}`);
    const last = new Set(switches.at(-1));
    for (const f of switches.flat()) assert.ok(last.has(f), `${f} is disabled by an earlier switch only`);
    for (const f of ["WebUIOmniboxPopup", "WebUIOmniboxAimPopup", ...(args ? ["WebRtcHideLocalIpsWithMdns"] : [])]) assert.ok(last.has(f), f);
    assert.deepEqual(ui.filter((u) => u.includes("omnibox")), [], "no address-bar popup beside the page");
  });
}
