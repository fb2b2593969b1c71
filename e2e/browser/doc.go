// Package browser tests a browser session end to end: headless Chromium
// (Debian's, driven by playwright-core from this directory's
// package-lock.json) runs the notes page of examples/web against a real
// authd and the connect-go service of examples/connect, logs in with
// cookies, outlives its access cookie through Refresh, logs out, and shows
// that the page's scripts never see a token and that pages of other
// origins cannot use the session. With a virtual authenticator (the
// DevTools Protocol's WebAuthn domain) it registers a passkey, steps up
// and logs in with it, and shows that a replayed assertion and a passkey
// an administrator removed are refused. It has no code of its own: the
// tests are browser_test.go and passkey_test.go, and browser.mjs and
// passkey.mjs are what runs in node.
package browser
