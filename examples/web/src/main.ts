// The notes page: it logs in to authd with cookies and calls the
// NoteService of examples/connect. It never holds a token: authd puts the
// access and refresh tokens in HttpOnly cookies, which the browser sends
// and this script cannot read; the script reads only the CSRF cookie, to
// copy it into the x-csrf-token header that every call authenticated by
// cookie needs (a page of another origin can make the browser send the
// cookies, but cannot set the header). Passkeys go through authd's
// WebAuthn ceremonies: authd hands out the options as JSON and checks the
// browser's answer; a method that wants a recent second factor is
// answered, after a refusal, by a step-up (a code or a passkey).
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { AuthService } from "./gen/auth/v1/auth_pb";
import { NoteService } from "./gen/notes/v1/notes_pb";

const csrfCookie = "__Host-authd-csrf";
const csrfHeader = "x-csrf-token";

// Where authd's Connect endpoint is: the server that serves this page says
// so in /config.json (examples/connect --authd-http).
interface Config {
  authdHttp: string;
}

function readCookie(name: string): string | undefined {
  for (const pair of document.cookie.split(";")) {
    const eq = pair.indexOf("=");
    if (eq > 0 && pair.slice(0, eq).trim() === name) {
      return pair.slice(eq + 1).trim();
    }
  }
  return undefined;
}

// csrf copies the CSRF cookie into the header of every call. Without the
// cookie (not logged in) it sends nothing, and the call is refused as
// unauthenticated.
const csrf: Interceptor = (next) => async (req) => {
  const token = readCookie(csrfCookie);
  if (token !== undefined) {
    req.header.set(csrfHeader, token);
  }
  return next(req);
};

// Cookies go with every call, also to authd on another origin (its CORS
// allows this page's origin, with credentials).
const withCookies: typeof fetch = (input, init) => fetch(input, { ...init, credentials: "include" });

function transport(baseUrl: string) {
  return createConnectTransport({ baseUrl, fetch: withCookies, interceptors: [csrf] });
}

const config: Config = await (await fetch("/config.json")).json();
const auth = createClient(AuthService, transport(config.authdHttp));
const notes = createClient(NoteService, transport(location.origin));

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

function log(line: string) {
  const li = document.createElement("li");
  li.textContent = line;
  $("log").append(li);
}

function show(loggedIn: boolean, status: string) {
  $("login").hidden = loggedIn;
  $("session").hidden = !loggedIn;
  $("status").textContent = status;
}

// reasonOf is the ErrorInfo reason of a refusal, if it carries one.
function reasonOf(err: unknown): string | undefined {
  for (const d of ConnectError.from(err).details) {
    if ("type" in d && d.type === "google.rpc.ErrorInfo" && d.debug && typeof d.debug === "object") {
      const reason = (d.debug as { reason?: unknown }).reason;
      if (typeof reason === "string") {
        return reason;
      }
    }
  }
  return undefined;
}

// describe names a refusal by its ErrorInfo reason when authd's or the
// service's error carries one (TOKEN_MISSING, CSRF_TOKEN_INVALID, …).
function describe(err: unknown): string {
  const e = ConnectError.from(err);
  const reason = reasonOf(err);
  return reason === undefined ? `${Code[e.code]}: ${e.rawMessage}` : `${Code[e.code]} ${reason}`;
}

// One refresh at a time: calls refused together wait for the same one.
let refreshing: Promise<void> | undefined;

function refresh(): Promise<void> {
  refreshing ??= auth
    .refresh({})
    .then(
      () => log("Refresh ok"),
      (err: unknown) => {
        // Another tab's refresh moved the session on first: the browser
        // holds its newer cookies already, so the session goes on.
        if (reasonOf(err) === "REFRESH_SUPERSEDED") {
          log("Refresh superseded: another tab refreshed");
          return;
        }
        throw err;
      },
    )
    .finally(() => {
      refreshing = undefined;
    });
  return refreshing;
}

// What the user is asked to prove again: the second factor of a login
// whose password was right (its second_factor_token), or a step-up of the
// session for a method that wants a fresh token or a recent second factor
// (then the action to take again).
type Pending = { kind: "login"; token: string } | { kind: "step-up"; retry?: () => Promise<void> };
let pending: Pending | undefined;

function askToVerify(p: Pending, why: string) {
  pending = p;
  $("verify-why").textContent = why;
  $("verify").hidden = false;
}

function verified() {
  pending = undefined;
  $("verify").hidden = true;
  $<HTMLInputElement>("code").value = "";
}

// Refusals a refresh cannot help: the token is not fresh, or shows no
// recent second factor. A refresh would only mint another token that is
// not fresh; the user proves who they are again instead.
const stepUpReasons = ["STEP_UP_REQUIRED", "FRESH_TOKEN_REQUIRED"];

// withSession makes a call; when it is refused as unauthenticated (the
// access cookie expired and the browser dropped it), it refreshes once,
// which sets new cookies, and makes the call again. When the refresh fails
// too, only a new login helps. A refusal that asks for a step-up shows the
// prompt, which takes again, once verified, the action again.
async function withSession<T>(name: string, call: () => Promise<T>, again?: () => Promise<void>): Promise<T> {
  for (let refreshed = false; ; refreshed = true) {
    try {
      return await call();
    } catch (err) {
      if (ConnectError.from(err).code !== Code.Unauthenticated) {
        throw err;
      }
      log(`${name} refused: ${describe(err)}`);
      if (stepUpReasons.includes(reasonOf(err) ?? "")) {
        askToVerify({ kind: "step-up", retry: again }, `${name} wants you to prove who you are again`);
        throw err;
      }
      if (refreshed) {
        throw err;
      }
    }
    try {
      await refresh();
    } catch (err) {
      log(`Refresh refused: ${describe(err)}`);
      show(false, "Session ended: log in again");
      throw err;
    }
  }
}

// The WebAuthn calls, with the options authd sent as JSON ({"publicKey":
// …}) and the answer as JSON for authd to check.
async function createPasskey(optionsJson: string): Promise<string> {
  const options = JSON.parse(optionsJson) as { publicKey: PublicKeyCredentialCreationOptionsJSON };
  const cred = await navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options.publicKey) });
  if (!(cred instanceof PublicKeyCredential)) {
    throw new Error("the browser made no passkey");
  }
  return JSON.stringify(cred.toJSON());
}

async function usePasskey(optionsJson: string): Promise<string> {
  const options = JSON.parse(optionsJson) as { publicKey: PublicKeyCredentialRequestOptionsJSON };
  const cred = await navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options.publicKey) });
  if (!(cred instanceof PublicKeyCredential)) {
    throw new Error("the browser used no passkey");
  }
  return JSON.stringify(cred.toJSON());
}

async function listNotes() {
  const res = await withSession("ListNotes", () => notes.listNotes({}));
  $("owner").textContent = `Notes of ${res.owner}: ${res.notes.length}`;
  $("notes").replaceChildren(
    ...res.notes.map((text) => {
      const li = document.createElement("li");
      li.textContent = text;
      return li;
    }),
  );
  log(`ListNotes ok: ${res.notes.length}`);
}

async function clearNotes() {
  await withSession("ClearNotes", () => notes.clearNotes({}), clearNotes);
  log("ClearNotes ok");
  await listNotes();
}

async function loggedIn(how: string) {
  verified();
  log(`${how} ok`);
  show(true, "Logged in");
  await listNotes();
}

// A passkey login: passwordless, or with the second_factor_token of a
// login whose password was right.
async function passkeyLogin(secondFactorToken = "") {
  const begin = await auth.beginPasskeyLogin({ secondFactorToken });
  const credentialJson = await usePasskey(begin.optionsJson);
  await auth.finishPasskeyLogin({ ceremonyToken: begin.ceremonyToken, credentialJson, setCookies: true });
  await loggedIn("Passkey login");
}

async function stepUpDone(retry?: () => Promise<void>) {
  verified();
  log("Step-up ok");
  await retry?.();
}

function guarded(action: () => Promise<void>) {
  return async (ev?: Event) => {
    ev?.preventDefault();
    try {
      await action();
    } catch (err) {
      $("status").textContent = `Refused: ${describe(err)}`;
    }
  };
}

$("login").addEventListener(
  "submit",
  guarded(async () => {
    // set_cookies: authd answers with the three cookies and no token in
    // the body, so this response holds nothing worth keeping.
    const res = await auth.login({
      username: $<HTMLInputElement>("username").value,
      password: $<HTMLInputElement>("password").value,
      setCookies: true,
    });
    $<HTMLInputElement>("password").value = "";
    if (res.secondFactorRequired) {
      log("Second factor required");
      askToVerify({ kind: "login", token: res.secondFactorToken }, "Your password was right: now a code or a passkey");
      return;
    }
    await loggedIn("Login");
  }),
);

$("passkey-login").addEventListener("click", guarded(() => passkeyLogin()));

$("verify-code").addEventListener(
  "submit",
  guarded(async () => {
    const code = $<HTMLInputElement>("code").value;
    const p = pending;
    if (p?.kind === "login") {
      await auth.loginSecondFactor({ secondFactorToken: p.token, code, setCookies: true });
      await loggedIn("Login");
    } else {
      await withSession("StepUp", () => auth.stepUp({ code }));
      await stepUpDone(p?.retry);
    }
  }),
);

$("verify-passkey").addEventListener(
  "click",
  guarded(async () => {
    const p = pending;
    if (p?.kind === "login") {
      await passkeyLogin(p.token);
      return;
    }
    const begin = await withSession("BeginPasskeyStepUp", () => auth.beginPasskeyStepUp({}));
    const credentialJson = await usePasskey(begin.optionsJson);
    await auth.finishPasskeyStepUp({ ceremonyToken: begin.ceremonyToken, credentialJson });
    await stepUpDone(p?.retry);
  }),
);

async function registerPasskey() {
  const begin = await withSession("BeginPasskeyRegistration", () => auth.beginPasskeyRegistration({}), registerPasskey);
  const credentialJson = await createPasskey(begin.optionsJson);
  await auth.finishPasskeyRegistration({ ceremonyToken: begin.ceremonyToken, credentialJson, name: "this browser" });
  log("Passkey registered");
}

$("register-passkey").addEventListener("click", guarded(registerPasskey));

$("clear").addEventListener("click", guarded(clearNotes));

$("add").addEventListener(
  "submit",
  guarded(async () => {
    const text = $<HTMLInputElement>("note").value;
    const res = await withSession("AddNote", () => notes.addNote({ text }));
    $<HTMLInputElement>("note").value = "";
    log(`AddNote ok: ${res.count}`);
    await listNotes();
  }),
);

$("list").addEventListener("click", guarded(listNotes));

$("logout").addEventListener(
  "click",
  guarded(async () => {
    await auth.logout({});
    log("Logout ok");
    verified();
    $("notes").replaceChildren();
    $("owner").textContent = "";
    show(false, "Logged out");
  }),
);

// The CSRF cookie lives as long as the session's cookies: its presence is
// the page's only sign of being logged in.
show(readCookie(csrfCookie) !== undefined, "Ready");
document.body.dataset.ready = "true";
