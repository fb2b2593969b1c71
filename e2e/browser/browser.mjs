// Drives headless Chromium through the notes page of examples/web, then
// through pages of other origins that try to use its session, and prints
// on stdout, as one JSON object, what it saw: browser_test.go judges it.
// It asserts nothing itself, but stops at the first step that cannot be
// taken (an element that never shows up) and reports that step's error.
//
//	node browser.mjs '{"chromium": "/usr/bin/chromium", "page": "http://127.0.0.1:P", ...}'
import { notesPage } from "./page.mjs";
import { chromium } from "playwright-core";

const cfg = JSON.parse(process.argv[2]);
const out = { steps: [], console: [] };
const began = Date.now();
const step = (name, value) => out.steps.push({ name, ms: Date.now() - began, ...value });

const authdURL = (method) => `${cfg.authd}/auth.v1.AuthService/${method}`;
const notesURL = (method) => `${cfg.page}/notes.v1.NoteService/${method}`;

// What the page's scripts can see of every response to fetch: the headers
// a cross-origin response exposes to them, and the body. It wraps fetch
// before any of the page's scripts runs.
function recordWhatScriptsSee() {
  const seen = [];
  Object.defineProperty(window, "__seen", { value: seen });
  const original = window.fetch;
  window.fetch = async (input, init) => {
    const res = await original(input, init);
    const body = await res.clone().text();
    seen.push({ url: res.url, status: res.status, headers: [...res.headers], body });
    return res;
  };
}

const browser = await chromium.launch({
  executablePath: cfg.chromium,
  headless: true,
  // ../../shared/PITFALLS.md: the flags that work here; playwright adds a
  // fresh --user-data-dir and --no-sandbox.
  args: [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
  timeout: 30_000,
});
try {
  const context = await browser.newContext();
  context.setDefaultTimeout(20_000);
  await context.addInitScript(recordWhatScriptsSee);

  // Every request the browser sends and every response it gets, as the
  // network sees them (Set-Cookie included), for the servers' side.
  const network = [];
  context.on("response", async (res) => {
    const req = res.request();
    const entry = { method: req.method(), url: res.url(), status: res.status(), from: req.frame()?.url() ?? "" };
    network.push(entry);
    try {
      entry.setCookie = (await res.headerValue("set-cookie")) ?? "";
      if (res.url().startsWith(cfg.authd) || res.url().startsWith(`${cfg.page}/notes.v1.`)) {
        entry.body = (await res.body()).toString("latin1");
      }
    } catch {
      // a response without a body (a redirect, an aborted navigation)
    }
  });
  context.on("requestfailed", (req) => {
    network.push({ method: req.method(), url: req.url(), failed: req.failure()?.errorText ?? "failed", from: req.frame()?.url() ?? "" });
  });

  const page = await context.newPage();
  const consoleLines = out.console;
  page.on("console", (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => consoleLines.push(`pageerror: ${e.message}`));

  const { view, act } = notesPage(page);
  // What the page's own scripts can read of the session.
  const jsState = async () =>
    page.evaluate(() => ({
      cookie: document.cookie,
      localStorage: localStorage.length,
      sessionStorage: sessionStorage.length,
      seen: window.__seen,
    }));
  const cookies = async () =>
    (await context.cookies()).map(({ name, value, path, httpOnly, secure, sameSite, expires, domain }) => ({
      name, value, path, httpOnly, secure, sameSite, expires, domain,
    }));

  // (a) Log in with cookies, add a note, list.
  await page.goto(cfg.page);
  await page.waitForSelector("body[data-ready]", { state: "attached" });
  await page.fill("#username", cfg.user);
  await page.fill("#password", cfg.password);
  await page.click("#login button[type=submit]");
  await page.waitForSelector("#session", { state: "visible" });
  await page.waitForFunction(() => document.getElementById("owner").textContent !== "");
  await page.fill("#note", "buy milk");
  await page.click("#add button[type=submit]");
  await page.waitForFunction(() => document.querySelectorAll("#notes li").length === 1);
  step("login", { view: await view(), cookies: await cookies(), js: await jsState(), now: Date.now() / 1000 });

  // The access cookie's Max-Age runs out: the browser drops it, as
  // clearCookies does, with no waiting. The next call is refused, the page
  // refreshes from the refresh cookie and calls again.
  const beforeRefresh = await cookies();
  await context.clearCookies({ name: "__Host-authd-access" });
  const refreshed = await act("list", "ListNotes ok");
  step("expired", { view: refreshed, before: beforeRefresh, cookies: await cookies(), js: await jsState() });

  // (b) The page without its CSRF header: authd and the service refuse a
  // cookie-only call even from the allowed origin.
  const noHeader = await page.evaluate(
    async ([urls]) => {
      const results = [];
      for (const url of urls) {
        const res = await fetch(url, {
          method: "POST",
          credentials: "include",
          headers: { "content-type": "application/json", "connect-protocol-version": "1" },
          body: "{}",
        });
        results.push({ url, status: res.status, body: await res.text() });
      }
      return results;
    },
    [[authdURL("Refresh"), authdURL("Logout"), notesURL("AddNote"), notesURL("ListNotes")]],
  );
  step("no-csrf-header", { results: noHeader });

  // (c, d) Pages of other origins: one of another site (localhost), one
  // of the same site on another port (127.0.0.1). The session's cookies
  // are in the same browser.
  for (const [name, origin] of [["cross-site", cfg.crossSite], ["same-site", cfg.sameSite]]) {
    const attacker = await context.newPage();
    attacker.on("console", (m) => consoleLines.push(`${name} ${m.type()}: ${m.text()}`));
    const mark = network.length;
    // Forms that post on their own as the page loads: a JSON body spelt
    // as a text/plain form, to authd's Logout and Refresh and to AddNote.
    const targets = [authdURL("Logout"), authdURL("Refresh"), notesURL("AddNote")];
    for (const target of targets) {
      const posted = (req) => req.url() === target && req.method() === "POST";
      const reached = Promise.race([
        attacker.waitForResponse((res) => posted(res.request())),
        attacker.waitForEvent("requestfailed", posted),
      ]);
      await attacker.goto(`${origin}/form?target=${encodeURIComponent(target)}`);
      await reached;
    }
    await attacker.goto(`${origin}/`);
    const fetches = await attacker.evaluate(async ([targets]) => {
      const results = [];
      const attempt = async (url, kind, init) => {
        try {
          const res = await fetch(url, { method: "POST", credentials: "include", ...init });
          results.push({ url, kind, type: res.type, status: res.status, body: res.type === "opaque" ? "" : await res.text() });
        } catch (e) {
          results.push({ url, kind, error: String(e) });
        }
      };
      const csrf = document.cookie.split("; ").find((c) => c.startsWith("__Host-authd-csrf="))?.split("=")[1] ?? "";
      for (const url of targets) {
        // A simple request: no preflight, the browser sends it with its
        // cookies (same site only) and hides the answer.
        await attempt(url, "simple", { mode: "no-cors", headers: { "content-type": "text/plain" }, body: '{"text":"forged"}' });
        // A JSON call without the CSRF header: preflight first.
        await attempt(url, "json", {
          headers: { "content-type": "application/json", "connect-protocol-version": "1" },
          body: '{"text":"forged"}',
        });
        // With the CSRF header (a page on this host can read the CSRF
        // cookie: cookies are per host, not per port): preflight first.
        await attempt(url, "csrf-header", {
          headers: { "content-type": "application/json", "connect-protocol-version": "1", "x-csrf-token": csrf || "guess" },
          body: '{"text":"forged"}',
        });
      }
      return { results, cookie: document.cookie, csrfReadable: csrf !== "" };
    }, [targets]);
    step(`attack-${name}`, { origin, fetches, network: network.slice(mark) });
    await attacker.close();
  }

  // Nothing happened: the notes are as they were, and the session still
  // refreshes.
  const afterAttacks = await act("list", "ListNotes ok");
  await context.clearCookies({ name: "__Host-authd-access" });
  const refreshedAgain = await act("list", "ListNotes ok");
  step("after-attacks", { view: afterAttacks, refreshed: refreshedAgain, cookies: await cookies() });

  // Log out; then a call fails and so does the refresh. The refresh and
  // CSRF cookies of before the logout, put back, are refused too: authd
  // ended the session, the browser did not just forget it.
  const beforeLogout = await cookies();
  await page.click("#logout");
  await page.waitForFunction(() => document.getElementById("status").textContent === "Logged out");
  const afterLogout = await cookies();
  const jsAfterLogout = await jsState();
  const refused = await act("list", "Refresh refused");
  await context.addCookies(
    beforeLogout
      .filter((c) => c.name !== "__Host-authd-access")
      .map(({ name, value, path, httpOnly, secure, sameSite, expires }) => ({
        name, value, path, httpOnly, secure, sameSite, expires, url: undefined, domain: "127.0.0.1",
      })),
  );
  const replayed = await act("list", "Refresh refused");
  step("logout", { view: replayed, refused, cookies: afterLogout, js: jsAfterLogout });

  out.network = network;
} catch (e) {
  out.error = String(e?.stack ?? e);
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(out));
