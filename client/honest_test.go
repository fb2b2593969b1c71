package client_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/authd-dev/authd/authdtest"
	"github.com/authd-dev/authd/client"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
)

// A session restored from a FileStore after its access token expired
// (an application started again the next morning) is still ended at
// authd by Logout: the refresh token it holds is good for a day, and
// authd's Logout takes it. Both with bearer tokens and with DPoP.
func TestLogout_WithExpiredAccessTokenEndsTheSession(t *testing.T) {
	for _, bound := range []bool{false, true} {
		t.Run(map[bool]string{false: "bearer", true: "dpop"}[bound], func(t *testing.T) {
			e := authdtest.New(t)
			e.AddUser(t, "alice", "correct horse")
			store := client.FileStore{Path: filepath.Join(t.TempDir(), "tokens.json")}
			cfg := client.Config{Store: store, DPoP: bound, Insecure: true, Clock: e.Clock}
			first, err := client.New(bg, e.Conn, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := first.Login(bg, "alice", "correct horse"); err != nil {
				t.Fatal(err)
			}
			e.Clock.Advance(16 * time.Minute) // the access token has expired; the refresh token lives
			restored, err := client.New(bg, e.Conn, cfg)
			if err != nil {
				t.Fatal(err)
			}
			claims, err := e.Issuer.Verifier.Verify(bg, restored.Tokens().Refresh)
			if err != nil {
				t.Fatal(err)
			}
			if err := restored.Logout(bg); err != nil {
				t.Fatalf("Logout: %v", err)
			}
			live, err := e.Client().CheckSession(bg, &authv1.CheckSessionRequest{Sid: claims.SessionID})
			if err != nil {
				t.Fatal(err)
			}
			if live.GetLive() {
				t.Fatal("after Logout the session is still live at authd: it was never told")
			}
		})
	}
}
