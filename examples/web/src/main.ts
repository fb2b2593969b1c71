// The notes page: it logs in to authd with cookies and calls the
// NoteService of examples/connect. It never holds a token: authd puts the
// access and refresh tokens in HttpOnly cookies, which the browser sends
// and this script cannot read; the script reads only the CSRF cookie, to
// copy it into the x-csrf-token header that every call authenticated by
// cookie needs (a page of another origin can make the browser send the
// cookies, but cannot set the header).
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

// describe names a refusal by its ErrorInfo reason when authd's or the
// service's error carries one (TOKEN_MISSING, CSRF_TOKEN_INVALID, …).
function describe(err: unknown): string {
  const e = ConnectError.from(err);
  for (const d of e.details) {
    if ("type" in d && d.type === "google.rpc.ErrorInfo" && d.debug && typeof d.debug === "object") {
      const reason = (d.debug as { reason?: unknown }).reason;
      if (typeof reason === "string") {
        return `${Code[e.code]} ${reason}`;
      }
    }
  }
  return `${Code[e.code]}: ${e.rawMessage}`;
}

// One refresh at a time: calls refused together wait for the same one.
let refreshing: Promise<void> | undefined;

function refresh(): Promise<void> {
  refreshing ??= auth
    .refresh({})
    .then(() => log("Refresh ok"))
    .finally(() => {
      refreshing = undefined;
    });
  return refreshing;
}

// withSession makes a call; when it is refused as unauthenticated (the
// access cookie expired and the browser dropped it), it refreshes once,
// which sets new cookies, and makes the call again. When the refresh fails
// too, only a new login helps.
async function withSession<T>(name: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (ConnectError.from(err).code !== Code.Unauthenticated) {
      throw err;
    }
    log(`${name} refused: ${describe(err)}`);
  }
  try {
    await refresh();
  } catch (err) {
    log(`Refresh refused: ${describe(err)}`);
    show(false, "Session ended: log in again");
    throw err;
  }
  return call();
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
    await auth.login({
      username: $<HTMLInputElement>("username").value,
      password: $<HTMLInputElement>("password").value,
      setCookies: true,
    });
    $<HTMLInputElement>("password").value = "";
    log("Login ok");
    show(true, "Logged in");
    await listNotes();
  }),
);

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
    $("notes").replaceChildren();
    $("owner").textContent = "";
    show(false, "Logged out");
  }),
);

// The CSRF cookie lives as long as the session's cookies: its presence is
// the page's only sign of being logged in.
show(readCookie(csrfCookie) !== undefined, "Ready");
document.body.dataset.ready = "true";
