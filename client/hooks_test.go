package client_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

// AdoptRenewal and AfterCall, for the adapters of other transports, do
// what the interceptors do after a call: adopt a renewal of the same
// session only, and refresh on TOKEN_EXPIRED for one retry.
func TestAdoptRenewalAndAfterCall(t *testing.T) {
	f := newFixture(t, setup{})
	mine := f.client.Tokens()
	other := f.authd.Login(t, "alice", "pw").AccessToken
	f.client.AdoptRenewal(bg, http.Header{"X-Access-Token": {other}})
	if f.client.Tokens() != mine {
		t.Fatal("adopted a token of another session")
	}
	renewed := f.renewAtAuthd(t, mine.Access)
	f.client.AdoptRenewal(bg, http.Header{"X-Access-Token": {renewed}})
	if got := f.client.Tokens(); got.Access != renewed || got.Refresh != mine.Refresh {
		t.Fatal("a renewal of the same session was not adopted")
	}

	expired := wire.StatusError(token.ErrExpired)
	retry, err := f.client.AfterCall(bg, renewed, expired)
	if retry == "" || retry == renewed || !errors.Is(err, expired) || f.auth.refreshes.Load() != 1 {
		t.Fatalf("AfterCall(TOKEN_EXPIRED) = %q, %v after %d refreshes; want a refreshed token", retry, err, f.auth.refreshes.Load())
	}
	if retry, err := f.client.AfterCall(bg, retry, errors.New("boom")); retry != "" || err == nil {
		t.Fatalf("AfterCall(another error) = %q, %v; want no retry", retry, err)
	}
}
