package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
)

// newPage serves the built notes page of examples/web from dir, and at
// /config.json the origin of authd's HTTP endpoint, which the page calls
// for Login, Refresh and Logout.
func newPage(dir, authdHTTP string) (http.Handler, error) {
	authd, err := origin(authdHTTP)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "index.html")); err != nil {
		return nil, fmt.Errorf("no page in %s (make web builds it): %w", dir, err)
	}
	config, err := json.Marshal(map[string]string{"authdHttp": authd})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /config.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(config)
	})
	mux.Handle("GET /", http.FileServerFS(os.DirFS(dir)))
	// The page's scripts are its own files and talk only to this origin
	// and authd's; no form is ever submitted (the login form's submit is
	// the script's: without it, the password would go into a URL).
	csp := "default-src 'self'; connect-src 'self' " + authd +
		"; form-action 'none'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", csp)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		mux.ServeHTTP(w, r)
	}), nil
}

// origin is the origin (scheme://host[:port]) of a URL without a path.
func origin(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("--authd-http: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") ||
		u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("--authd-http %q: want an origin, such as http://127.0.0.1:8080", raw)
	}
	return u.Scheme + "://" + u.Host, nil
}
