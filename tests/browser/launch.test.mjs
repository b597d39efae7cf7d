// The Chromium the tests and benches launch: no renderer of the browser's
// own UI beside the pages (it took a third of a core from a reopened page's
// catch-up on this two-core machine), and a later `--disable-features`
// switch (the WebRTC flags') does not undo an earlier one.
import { test } from "node:test";
import assert from "node:assert/strict";
import { CHROMIUM_ARGS, CHROMIUM_WEBRTC_ARGS, launchChromium, mergeFeatureSwitches } from "./lib.mjs";

test("several --disable-features switches are joined into one, in the first one's place", () => {
  assert.deepEqual(mergeFeatureSwitches(["--a", "--disable-features=X,Y", "--b", "--disable-features=Z,X"]), ["--a", "--disable-features=X,Y,Z", "--b"]);
  assert.deepEqual(mergeFeatureSwitches(["--a", "--b"]), ["--a", "--b"]);
});

test("a launched Chromium with the WebRTC flags shows no address-bar popup renderer", async () => {
  const browser = await launchChromium({ args: [...CHROMIUM_ARGS, ...CHROMIUM_WEBRTC_ARGS] });
  try {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto("about:blank");
    const cdp = await browser.newBrowserCDPSession();
    const { targetInfos } = await cdp.send("Target.getTargets", { filter: [{}] });
    const pages = targetInfos.filter((t) => t.type === "page").map((t) => t.url);
    assert.deepEqual(pages, ["about:blank"], "the page is seen");
    const ui = targetInfos.filter((t) => t.type === "browser_ui").map((t) => t.url);
    assert.deepEqual(ui, [], "no WebUI of the browser's own runs beside the page");
  } finally {
    await browser.close();
  }
});
