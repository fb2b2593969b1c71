package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authd-dev/authd/examples/connect/gen/notes/v1/notesv1connect"
)

func startPage(t *testing.T, authdHTTP string) *httptest.Server {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("<!doctype html>"), 0o644); err != nil {
		t.Fatal(err)
	}
	page, err := newPage(dir, authdHTTP)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(page)
	t.Cleanup(srv.Close)
	return srv
}

func TestPage_ToldWhereAuthdIs(t *testing.T) {
	srv := startPage(t, "http://127.0.0.1:8080/")
	res, err := http.Get(srv.URL + "/config.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var config struct{ AuthdHTTP string }
	if err := json.NewDecoder(res.Body).Decode(&config); err != nil {
		t.Fatal(err)
	}
	if config.AuthdHTTP != "http://127.0.0.1:8080" {
		t.Errorf("authdHttp = %q, want http://127.0.0.1:8080", config.AuthdHTTP)
	}
	// The page may talk to itself and to authd, and to nothing else.
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self' http://127.0.0.1:8080;") {
		t.Errorf("Content-Security-Policy = %q, want connect-src of this origin and authd's", csp)
	}
}

// The NoteService is the page's own origin's: it answers no preflight, so
// a page of another origin cannot send it the x-csrf-token header, nor
// read what it answers.
func TestPage_NoCORS(t *testing.T) {
	_, srv := serveNotes(t)
	url := srv.URL + notesv1connect.NoteServiceListNotesProcedure
	preflight, err := http.NewRequest(http.MethodOptions, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	preflight.Header.Set("Origin", "http://localhost:1")
	preflight.Header.Set("Access-Control-Request-Method", http.MethodPost)
	preflight.Header.Set("Access-Control-Request-Headers", "content-type,x-csrf-token")
	post, err := http.NewRequest(http.MethodPost, url, strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	post.Header.Set("Origin", "http://localhost:1")
	post.Header.Set("Content-Type", "application/json")
	for _, req := range []*http.Request{preflight, post} {
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode < 400 {
			t.Errorf("%s: %s, want a refusal", req.Method, res.Status)
		}
		for k := range res.Header {
			if strings.HasPrefix(k, "Access-Control-") {
				t.Errorf("%s: %s: %q, want no CORS header", req.Method, k, res.Header.Get(k))
			}
		}
	}
}

func TestPage_RefusesBadSettings(t *testing.T) {
	for _, authdHTTP := range []string{"127.0.0.1:8080", "ftp://host", "http://host/path", "http://user@host", "http://"} {
		if _, err := newPage(t.TempDir(), authdHTTP); err == nil {
			t.Errorf("newPage(%q) succeeded", authdHTTP)
		}
	}
	if _, err := newPage(t.TempDir(), "http://127.0.0.1:8080"); err == nil || !strings.Contains(err.Error(), "make web") {
		t.Errorf("newPage of a directory without index.html: %v, want an error naming make web", err)
	}
}
