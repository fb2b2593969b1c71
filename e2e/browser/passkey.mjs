// Drives headless Chromium, with a virtual authenticator (the DevTools
// Protocol's WebAuthn domain), through the passkeys of the notes page of
// examples/web, and prints on stdout, as one JSON object, what it saw:
// passkey_test.go judges it. Like browser.mjs it asserts nothing itself,
// but stops at the first step that cannot be taken.
//
//	node passkey.mjs '{"chromium": "/usr/bin/chromium", "page": "http://localhost:P", "authd": …, "hook": …}'
import { notesPage } from "./page.mjs";
import { chromium } from "playwright-core";

const cfg = JSON.parse(process.argv[2]);
const out = { steps: [], console: [] };
const began = Date.now();
const step = (name, value) => out.steps.push({ name, ms: Date.now() - began, ...value });

const browser = await chromium.launch({
  executablePath: cfg.chromium,
  headless: true,
  // ../../shared/PITFALLS.md: the flags that work here.
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
  const page = await context.newPage();
  page.on("console", (m) => out.console.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => out.console.push(`pageerror: ${e.message}`));
  // The bodies the page sends to FinishPasskeyLogin: one is replayed.
  const assertions = [];
  page.on("request", (req) => {
    if (req.url() === `${cfg.authd}/auth.v1.AuthService/FinishPasskeyLogin`) {
      assertions.push(req.postData());
    }
  });

  // A platform authenticator that keeps discoverable credentials and
  // verifies its user (as a fingerprint reader would), touched at once.
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  const credentials = async () => (await cdp.send("WebAuthn.getCredentials", { authenticatorId })).credentials.length;

  const { view, act } = notesPage(page);
  const cookies = async () => (await context.cookies()).map(({ name, value, domain }) => ({ name, value, domain }));
  const passwordLogin = async (until) => {
    await page.fill("#username", cfg.user);
    await page.fill("#password", cfg.password);
    const before = (await view()).log.length;
    await page.click("#login button[type=submit]");
    await page.waitForFunction(
      ([before, until]) => [...document.querySelectorAll("#log li")].slice(before).some((li) => li.textContent.startsWith(until)),
      [before, until],
    );
  };
  const logout = async () => {
    await page.click("#logout");
    await page.waitForFunction(() => document.getElementById("status").textContent === "Logged out");
  };

  // A password login; ClearNotes wants a recent second factor: the page
  // asks to step up.
  await page.goto(cfg.page);
  await page.waitForSelector("body[data-ready]", { state: "attached" });
  await passwordLogin("Login ok");
  step("login", { view: await view() });
  step("step-up-required", { view: await act("clear", "ClearNotes refused") });

  // Register a passkey (the password login is fresh), then step up with
  // it: ClearNotes goes through.
  step("registered", { view: await act("register-passkey", "Passkey registered"), credentials: await credentials() });
  step("stepped-up", { view: await act("verify-passkey", "ClearNotes ok"), cookies: await cookies() });

  // Log out; log in with the passkey alone.
  await logout();
  step("passkey-login", { view: await act("passkey-login", "Passkey login ok"), cookies: await cookies() });

  // The assertion that logged in, sent again as it was: refused.
  const replayed = await fetch(`${cfg.authd}/auth.v1.AuthService/FinishPasskeyLogin`, {
    method: "POST",
    headers: { "content-type": "application/json", "connect-protocol-version": "1" },
    body: assertions.at(-1) ?? "",
  });
  step("replay", { results: [{ url: replayed.url, status: replayed.status, body: await replayed.text() }], assertions: assertions.length });

  // Outlive the access cookie: the refreshed token is not fresh, so
  // ClearNotes asks to step up, and the passkey does it.
  await page.fill("#note", "buy milk");
  await page.click("#add button[type=submit]");
  await page.waitForFunction(() => document.querySelectorAll("#notes li").length === 1);
  await context.clearCookies({ name: "__Host-authd-access" });
  const refused = await act("clear", "ClearNotes refused: Unauthenticated FRESH_TOKEN_REQUIRED");
  step("step-up-after-passkey-login", { refused, view: await act("verify-passkey", "ClearNotes ok"), cookies: await cookies() });

  // A password login now wants a second factor: the passkey.
  await logout();
  await passwordLogin("Second factor required");
  step("second-factor", { view: await act("verify-passkey", "Passkey login ok"), cookies: await cookies() });

  // An administrator resets alice's second factors: the passkey, still in
  // the authenticator, logs no one in; the password alone does.
  await logout();
  const reset = await (await fetch(`${cfg.hook}/reset`, { method: "POST" })).json();
  step("after-reset", { view: await act("passkey-login", "Passkey login ok"), credentials: await credentials(), removed: reset.removed });
  await passwordLogin("Login ok");
  step("password-after-reset", { view: await view() });
} catch (e) {
  out.error = String(e?.stack ?? e);
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(out));
