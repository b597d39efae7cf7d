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
  // Each window of this headless Chromium (one per context the tests make)
  // starts a renderer of its own for the address bar's popup (two WebUI
  // pages, chrome://omnibox-popup.top-chrome/), ~0.7 s of CPU each, which
  // no page here ever shows. A reopened page's catch-up, bound by this
  // machine's two cores, shared them with it (BENCHMARKS.md, "Catch-up:
  // the browser's own address-bar renderer").
  "--disable-features=WebUIOmniboxPopup,WebUIOmniboxAimPopup",
];

/**
 * The features playwright-core (1.65.1, its `chromiumSwitches`) disables in
 * a `--disable-features` switch of its own, ahead of ours: Chromium keeps
 * only the last of several such switches, so ours carries its list too
 * (its background requests to Google's hosts and its HTTPS upgrades among
 * them). `launch.test.mjs` reads the browser's own command line and fails
 * if the last switch leaves out a feature an earlier one disables.
 */
const PLAYWRIGHT_DISABLED_FEATURES = [
  "AvoidUnnecessaryBeforeUnloadCheckSync",
  "DestroyProfileOnBrowserClose",
  "HttpsUpgrades",
  "HttpsFirstBalancedModeAutoEnable",
  "LensOverlay",
  "MediaRouter",
  "PaintHolding",
  "ThirdPartyStoragePartitioning",
  "AvoidCorsURLLoaderRestartOnRedirect",
  "TcpPortRandomizationWin",
  "OptimizationHints",
  "NetworkTimeServiceQuerying",
  "AimEnabled",
  "PreconnectToSearch",
  "msForceBrowserSignIn",
  "msEdgeUpdateLaunchServicesPreferredVersion",
];

/**
 * `args` with their `--disable-features=` switches made one, in the first
 * one's place, with `inherited` (disabled by a switch before `args`) ahead
 * of theirs: Chromium takes only the last of several, so a later one would
 * undo an earlier one's (the WebRTC flags' undid CHROMIUM_ARGS's, and ours
 * Playwright's). `args` without such a switch are left as they are.
 */
export function mergeFeatureSwitches(args, inherited = []) {
  const prefix = "--disable-features=";
  const first = args.findIndex((a) => a.startsWith(prefix));
  if (first < 0) return args;
  const listed = args.filter((a) => a.startsWith(prefix)).flatMap((a) => a.slice(prefix.length).split(","));
  const features = [...new Set([...inherited, ...listed].map((f) => f.trim()).filter(Boolean))];
  return args.flatMap((a, i) => (!a.startsWith(prefix) ? [a] : i === first ? [prefix + features.join(",")] : []));
}

/** playwright-core's Chromium and the options that launch Debian's, with `args`. */
async function chromiumLaunch(args) {
  if (!fs.existsSync(CHROMIUM_PATH)) {
    throw new Error(`${CHROMIUM_PATH} not found: run bash .ci/setup (apt-get install chromium chromium-driver)`);
  }
  const { chromium } = await import("playwright-core");
  const options = { executablePath: CHROMIUM_PATH, headless: true, timeout: 60_000, args: mergeFeatureSwitches(args, PLAYWRIGHT_DISABLED_FEATURES) };
  return { chromium, options };
}

/** Launch Debian's Chromium through playwright-core. */
export async function launchChromium(extra = {}) {
  const { chromium, options } = await chromiumLaunch(extra.args ?? CHROMIUM_ARGS);
  return chromium.launch({ ...options, ...extra, args: options.args });
}

/** `context`, its close() followed by `after` (even when closing failed). */
function afterClose(context, after) {
  const close = context.close.bind(context);
  context.close = async (...a) => {
    try {
      await close(...a);
    } finally {
      await after();
    }
  };
  return context;
}

/**
 * Launch Chromium with a profile on disk, as a user's browser is: IndexedDB,
 * the HTTP cache and the code cache on disk. An off-the-record context
 * (launchChromiumContext) keeps IndexedDB in memory and no code cache. The
 * profile is a new directory under target/ (a tmpfs /tmp would keep it in
 * memory after all), removed when the browser has closed. Resolves to the
 * browser's one context, whose close() ends the browser.
 */
export async function launchChromiumProfile(args = CHROMIUM_ARGS) {
  const { chromium, options } = await chromiumLaunch(args);
  fs.mkdirSync(path.join(REPO_ROOT, "target"), { recursive: true });
  const dir = fs.mkdtempSync(path.join(REPO_ROOT, "target", "bench-profile-"));
  const removeDir = () => fs.rmSync(dir, { recursive: true, force: true });
  let context;
  try {
    context = await chromium.launchPersistentContext(dir, options);
  } catch (e) {
    removeDir();
    throw e;
  }
  return afterClose(context, removeDir);
}

/**
 * An off-the-record context (IndexedDB in memory, no code cache) in a
 * Chromium of its own, whose close() ends that browser: launchChromiumProfile's
 * counterpart in memory.
 */
export async function launchChromiumContext(args = CHROMIUM_ARGS) {
  const browser = await launchChromium({ args });
  try {
    return afterClose(await browser.newContext(), () => browser.close());
  } catch (e) {
    await browser.close().catch(() => {});
    throw e;
  }
}

/**
 * A probe's page and its context, by `storage` (the environment's
 * STORAGE): "memory", the default, an off-the-record context (Chromium
 * keeps its IndexedDB in memory), or "disk", a profile on disk as a user's
 * browser has (launchChromiumProfile). Anything else is refused. Says which
 * on stdout. Resolves to `{ context, page, storage }`; close `context` when
 * done: that ends its browser (and removes a disk profile).
 */
export async function openProbePage(storage = process.env.STORAGE || "memory") {
  if (storage !== "memory" && storage !== "disk") throw new Error(`STORAGE takes memory or disk, not ${storage}`);
  const context = storage === "disk" ? await launchChromiumProfile() : await launchChromiumContext();
  try {
    const page = await context.newPage();
    console.log(`IndexedDB ${storage === "disk" ? "on disk" : "in memory"}`);
    return { context, page, storage };
  } catch (e) {
    await context.close().catch(() => {});
    throw e;
  }
}

/** WebRTC between local endpoints in Chromium: real host candidates, loopback allowed. */
export const CHROMIUM_WEBRTC_ARGS = ["--allow-loopback-in-peer-connection", "--disable-features=WebRtcHideLocalIpsWithMdns"];

/** The browser the suites run in: WEFT_BROWSER=firefox or chromium (the default). */
export const BROWSER = process.env.WEFT_BROWSER || "chromium";

/**
 * Launch `name` ("chromium" or "firefox"), set up for WebRTC between local
 * endpoints. Both answer the same calls: newContext() (its own storage, so
 * its own IndexedDB and identity), context.newPage(), page.goto / evaluate /
 * reload / waitForFunction / on("console" | "pageerror"), close().
 */
export async function launchBrowser(name = BROWSER, { chromiumArgs = [] } = {}) {
  if (name === "chromium") return launchChromium({ args: [...CHROMIUM_ARGS, ...CHROMIUM_WEBRTC_ARGS, ...chromiumArgs] });
  if (name === "firefox") return launchFirefox();
  throw new Error(`unknown browser ${name}: chromium or firefox`);
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

/** Debian's Firefox ESR. */
export const FIREFOX_PATH = process.env.FIREFOX_PATH || "/usr/bin/firefox-esr";

/** geckodriver as `cargo install geckodriver` puts it (or GECKODRIVER). */
export const GECKODRIVER_PATH =
  process.env.GECKODRIVER || path.join(process.env.CARGO_HOME || path.join(process.env.HOME || "/root", ".cargo"), "bin", "geckodriver");

/**
 * Preferences for a headless Firefox in the tests. WebRTC: real host
 * addresses in candidates (Firefox hides them behind mDNS names
 * otherwise), as Chromium's flags do. No preference makes it gather
 * loopback candidates (media.peerconnection.ice.loopback does not, here):
 * its WebRTC tests run in netns.sh.
 */
export const FIREFOX_PREFS = {
  "media.peerconnection.ice.obfuscate_host_addresses": false,
  "datareporting.policy.dataSubmissionEnabled": false,
  "app.update.enabled": false,
  "browser.shell.checkDefaultBrowser": false,
};

/**
 * Launch Debian's Firefox ESR through geckodriver (selenium-webdriver, with
 * both paths given, so nothing is looked up or downloaded) and speak
 * WebDriver BiDi to it. Returns a browser with the part of playwright's API
 * the tests use: newContext() → newPage() → goto/evaluate/reload/on.
 *
 * BiDi, not WebDriver classic: classic's executeScript runs in a sandbox
 * where IndexedDB refuses every key (DataError); BiDi's script.callFunction
 * runs in the page's own realm.
 */
export async function launchFirefox({ prefs = {} } = {}) {
  for (const [what, p] of [["Firefox", FIREFOX_PATH], ["geckodriver", GECKODRIVER_PATH]]) {
    if (!fs.existsSync(p)) throw new Error(`${what} not found at ${p}: run bash .ci/setup`);
  }
  const firefox = await import("selenium-webdriver/firefox.js");
  const options = new firefox.Options().setBinary(FIREFOX_PATH).addArguments("-headless").enableBidi();
  for (const [k, v] of Object.entries({ ...FIREFOX_PREFS, ...prefs })) options.setPreference(k, v);
  const service = new firefox.ServiceBuilder(GECKODRIVER_PATH).build();
  const driver = await firefox.Driver.createSession(options, service);
  const caps = await driver.getCapabilities();
  const bidi = await BiDi.connect(caps.get("webSocketUrl"));
  await bidi.send("session.subscribe", { events: ["log.entryAdded", "browsingContext.load"] });
  return new FirefoxBrowser(driver, bidi, caps.get("browserVersion"));
}

/** A WebDriver BiDi connection: commands by id, events by method name. */
class BiDi {
  static async connect(url) {
    const { default: WebSocket } = await import("ws");
    const ws = new WebSocket(url);
    await new Promise((resolve, reject) => {
      ws.once("open", resolve);
      ws.once("error", reject);
    });
    return new BiDi(ws);
  }

  constructor(ws) {
    this.ws = ws;
    this.next = 0;
    this.pending = new Map();
    this.listeners = new Map();
    ws.on("message", (data) => {
      const msg = JSON.parse(data.toString());
      if (typeof msg.id === "number") {
        const p = this.pending.get(msg.id);
        this.pending.delete(msg.id);
        if (msg.type === "error") p?.reject(new Error(`BiDi ${p.method}: ${msg.error}: ${msg.message}`));
        else p?.resolve(msg.result);
      } else if (msg.method) {
        for (const f of this.listeners.get(msg.method) ?? []) f(msg.params);
      }
    });
    ws.on("close", () => {
      for (const p of this.pending.values()) p.reject(new Error("the BiDi connection closed"));
      this.pending.clear();
    });
  }

  send(method, params = {}) {
    const id = ++this.next;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, method });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  on(method, f) {
    if (!this.listeners.has(method)) this.listeners.set(method, []);
    this.listeners.get(method).push(f);
  }

  off(method, f) {
    this.listeners.set(method, (this.listeners.get(method) ?? []).filter((g) => g !== f));
  }
}

class FirefoxBrowser {
  constructor(driver, bidi, version) {
    this.driver = driver;
    this.bidi = bidi;
    this.name = "firefox";
    this.versionString = version;
  }

  version() {
    return this.versionString;
  }

  /** A user context: its own cookies and storage (IndexedDB), as a playwright context. */
  async newContext() {
    const { userContext } = await this.bidi.send("browser.createUserContext");
    return new FirefoxContext(this, userContext);
  }

  async close() {
    try {
      this.bidi.ws.close();
    } finally {
      await this.driver.quit();
    }
  }
}

class FirefoxContext {
  constructor(browser, id) {
    this.browser = browser;
    this.id = id;
    this.pages = [];
  }

  async newPage() {
    const { context } = await this.browser.bidi.send("browsingContext.create", { type: "tab", userContext: this.id });
    const page = new FirefoxPage(this.browser, context);
    this.pages.push(page);
    return page;
  }

  async close() {
    await this.browser.bidi.send("browser.removeUserContext", { userContext: this.id }).catch(() => {});
  }
}

/** What a console message looks like to watchPage (playwright's ConsoleMessage). */
class ConsoleMessage {
  constructor(type, text) {
    this.kind = type;
    this.message = text;
  }
  type() {
    return this.kind;
  }
  text() {
    return this.message;
  }
}

class FirefoxPage {
  constructor(browser, context) {
    this.browser = browser;
    this.bidi = browser.bidi;
    this.context = context;
    this.timeout = 30_000;
    this.handlers = { console: [], pageerror: [] };
    this.onLog = (entry) => {
      if (entry.source?.context !== this.context) return;
      if (entry.type === "javascript") {
        for (const f of this.handlers.pageerror) f(new Error(entry.text));
      } else {
        // BiDi's levels are debug, info, warn, error; playwright's types say warning.
        const type = entry.level === "warn" ? "warning" : entry.method === "log" ? "log" : entry.level;
        for (const f of this.handlers.console) f(new ConsoleMessage(type, entry.text));
      }
    };
    this.bidi.on("log.entryAdded", this.onLog);
  }

  on(event, f) {
    this.handlers[event]?.push(f);
  }

  setDefaultTimeout(ms) {
    this.timeout = ms;
  }

  async goto(url) {
    await this.bidi.send("browsingContext.navigate", { context: this.context, url, wait: "complete" });
  }

  async reload() {
    await this.bidi.send("browsingContext.reload", { context: this.context, wait: "complete" });
  }

  /**
   * Runs `fn(arg)` in the page's realm and resolves to its result, as
   * playwright's page.evaluate: the argument and the result cross as JSON.
   */
  async evaluate(fn, arg) {
    const source = typeof fn === "function" ? fn.toString() : `() => (${fn})`;
    const call = `async (json) => {
      const r = await (${source})(json === undefined ? undefined : JSON.parse(json));
      return JSON.stringify({ r });
    }`;
    const args = arg === undefined ? [] : [{ type: "string", value: JSON.stringify(arg) }];
    const res = await this.bidi.send("script.callFunction", {
      functionDeclaration: call,
      arguments: args,
      awaitPromise: true,
      target: { context: this.context },
      resultOwnership: "none",
    });
    if (res.type === "exception") {
      const d = res.exceptionDetails;
      throw new Error(`page.evaluate: ${d.text}\n${(d.stackTrace?.callFrames ?? []).map((f) => `    at ${f.functionName} (${f.url}:${f.lineNumber})`).join("\n")}`);
    }
    return JSON.parse(res.result.value).r;
  }

  /** Polls `fn(arg)` in the page until it is truthy (playwright's waitForFunction). */
  async waitForFunction(fn, arg, { timeout = this.timeout, polling = 100 } = {}) {
    const deadline = Date.now() + timeout;
    for (;;) {
      const v = await this.evaluate(fn, arg);
      if (v) return v;
      if (Date.now() > deadline) throw new Error(`waitForFunction timed out after ${timeout} ms: ${fn}`);
      await new Promise((r) => setTimeout(r, typeof polling === "number" ? polling : 100));
    }
  }

  /*
   * The UI calls, by CSS selector, as playwright's page has them. Input
   * goes through WebDriver classic's element commands (real key and mouse
   * events); reads through the page's realm.
   */

  /** The element `selector` names, once it is there, in this page's tab. */
  async element(selector) {
    const { By, until } = await import("selenium-webdriver");
    await this.browser.driver.switchTo().window(this.context);
    return this.browser.driver.wait(until.elementLocated(By.css(selector)), this.timeout, `no ${selector}`);
  }

  async click(selector) {
    await (await this.element(selector)).click();
  }

  /**
   * Replaces the field's text: WebDriver's clear, then typing. Clear fires
   * no input event in Firefox, so emptying types a space and deletes it, as
   * a user's keys would leave the field.
   */
  async fill(selector, value) {
    const { Key } = await import("selenium-webdriver");
    const el = await this.element(selector);
    await el.clear();
    await el.sendKeys(...(value === "" ? [" ", Key.BACK_SPACE] : [value]));
  }

  async press(selector, key) {
    const { Key } = await import("selenium-webdriver");
    await (await this.element(selector)).sendKeys(Key[key.toUpperCase()] ?? key);
  }

  async check(selector) {
    const el = await this.element(selector);
    if (!(await el.isSelected())) await el.click();
  }

  async selectOption(selector, value) {
    await this.element(selector);
    await (await this.element(`${selector} option[value="${value}"]`)).click();
  }

  textContent(selector) {
    return this.evaluate((s) => document.querySelector(s)?.textContent ?? null, selector);
  }

  inputValue(selector) {
    return this.evaluate((s) => document.querySelector(s).value, selector);
  }

  isChecked(selector) {
    return this.evaluate((s) => document.querySelector(s).checked, selector);
  }

  getAttribute(selector, name) {
    return this.evaluate(([s, n]) => document.querySelector(s)?.getAttribute(n) ?? null, [selector, name]);
  }

  async screenshot({ path: file }) {
    const { data } = await this.bidi.send("browsingContext.captureScreenshot", { context: this.context, origin: "document" });
    fs.writeFileSync(file, Buffer.from(data, "base64"));
  }

  async close() {
    this.bidi.off("log.entryAdded", this.onLog);
    await this.bidi.send("browsingContext.close", { context: this.context }).catch(() => {});
  }
}

/**
 * The A/B tools' setup (ab-write.mjs, ab-reopen.mjs, first-write.mjs): the
 * builds BUILDS names (default `defaultBuilds`), each a copy of a pkg/ under
 * AB_ROOT beside a copy of www/, served from AB_ROOT, and a Chromium.
 */
export async function abSetup(defaultBuilds) {
  const builds = (process.env.BUILDS || defaultBuilds).split(",");
  const root = process.env.AB_ROOT;
  if (!root) throw new Error("AB_ROOT: a folder with www/ and one pkg copy per build");
  const { serve } = await import("./serve.mjs");
  const server = await serve({ root, port: 0 });
  const browser = await launchChromium();
  return { builds, server, browser };
}

/**
 * Self and inclusive time by function name of a CDP `Profiler.stop`
 * profile, in µs: `{ self, incl, total }` (Maps; inclusive time counted
 * once per sample however deep a function recurs). For the probes.
 */
export function profileByFunction(profile) {
  const dt = new Map();
  for (let i = 0; i < profile.samples.length; i++) dt.set(profile.samples[i], (dt.get(profile.samples[i]) || 0) + (profile.timeDeltas[i] || 0));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children || []) parent.set(c, n.id);
  const self = new Map();
  const incl = new Map();
  let total = 0;
  for (const n of profile.nodes) {
    const us = dt.get(n.id) || 0;
    total += us;
    if (!us) continue;
    const name = n.callFrame.functionName || "(anon " + n.callFrame.url.split("/").pop() + ")";
    self.set(name, (self.get(name) || 0) + us);
    const seen = new Set();
    for (let id = n.id; id !== undefined; id = parent.get(id)) {
      const f = byId.get(id).callFrame.functionName || "(anon)";
      if (seen.has(f)) continue;
      seen.add(f);
      incl.set(f, (incl.get(f) || 0) + us);
    }
  }
  return { self, incl, total };
}

/**
 * For the probes' traces, each `[t0, t1, events]` with an event
 * `[name, at, took?]` in page time: by position in the first trace, each
 * event's median offset from `t0` and the median time its call took, as
 * `name(took)@offset`, and the median of `t1 - t0` (ms, 3 decimals).
 */
export function eventMedians(traces) {
  const med = (a) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; };
  const names = traces[0][2].map((e) => e[0]);
  const offs = names.map((n, i) => med(traces.filter((t) => t[2][i]).map((t) => t[2][i][1] - t[0])));
  const durs = names.map((n, i) => med(traces.filter((t) => t[2][i]).map((t) => t[2][i][2] ?? 0)));
  return {
    events: names.map((n, i) => `${n}(${durs[i].toFixed(3)})@${offs[i].toFixed(3)}`).join("  "),
    end: med(traces.map((t) => t[1] - t[0])).toFixed(3),
  };
}
