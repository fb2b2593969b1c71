package server

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// CORS for the browser endpoints (Config.CORSOrigins): pages of the listed
// origins may call AuthService with credentials (its cookies); a request
// from any other origin is refused before it reaches a handler, and its
// preflight gets no Access-Control-Allow-Origin. The header lists are what
// connect-web and grpc-web clients send and read (authd sends no
// x-access-token: it renews nothing on its own calls).
var (
	corsAllowHeaders = strings.Join([]string{
		"Content-Type", "Connect-Protocol-Version", "Connect-Timeout-Ms", "Connect-Accept-Encoding",
		"Connect-Content-Encoding", "Grpc-Timeout", "X-Grpc-Web", "X-User-Agent",
		"Authorization", "X-Csrf-Token", "X-Request-Id",
	}, ", ")
	corsExposeHeaders = strings.Join([]string{
		"Grpc-Status", "Grpc-Message", "Grpc-Status-Details-Bin", "Content-Encoding",
		"Connect-Content-Encoding", "X-Request-Id",
	}, ", ")
)

// corsMaxAge is how long a browser may keep a preflight's answer.
const corsMaxAge = "7200"

// ParseOrigins reads --cors-origins: comma-separated origins, each
// scheme://host[:port] with nothing after it. A wildcard is refused: a
// browser never sends credentials to "*", and allowing every origin with
// credentials would let any page call as the user.
func ParseOrigins(list string) ([]string, error) {
	var origins []string
	for _, o := range strings.Split(list, ",") {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		if strings.Contains(o, "*") {
			return nil, fmt.Errorf("origin %q: no wildcard: list each origin that may call with credentials", o)
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return nil, fmt.Errorf("origin %q: want scheme://host[:port], as a browser sends it in Origin", o)
		}
		origins = append(origins, u.Scheme+"://"+strings.ToLower(u.Host))
	}
	return origins, nil
}

// withCORS answers preflights for origins and refuses calls from any other
// origin; calls without an Origin header (not from a browser page) pass.
func withCORS(origins []string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
		if origin == "" && !preflight {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Add("Vary", "Origin")
		if !slices.Contains(origins, origin) {
			http.Error(w, "origin not allowed (--cors-origins)", http.StatusForbidden)
			return
		}
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
		if preflight {
			h.Set("Access-Control-Allow-Methods", "POST, GET")
			h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
			h.Set("Access-Control-Max-Age", corsMaxAge)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
		next.ServeHTTP(w, r)
	})
}
