package main

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/authd-dev/authd/authdtest/tokens"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
	"github.com/authd-dev/authd/internal/pgschema"
	"github.com/authd-dev/authd/jwks"
)

// The rollover of issue 20, on a real fleet: two authd processes on one
// PostgreSQL database, the example greeter fetching its JWKS from A alone,
// and clients that log in and refresh against B alone, calling the greeter
// with every access token B gives them, under a bounded load, across
// `authd keys rotate`. B must not sign with the new key before A
// publishes it (and the greeter, meeting its kid, fetches it from A): not
// one call is refused. B switches to the new key at its activation, not
// before, and with no reload needed. The instances re-read their keys
// every reload (AUTHD_TEST_KEY_RELOAD) and the propagation delay exceeds
// that plus the greeter's refetch cooldown, as 20 minutes exceed a minute
// and 5 s in production.
func TestE2E_FleetKeyRotationRefusesNothing(t *testing.T) {
	dsn := pgschema.ForTest(t, "authd_e2e") // skipped without AUTHD_TEST_POSTGRES
	const (
		reload = 250 * time.Millisecond
		// The greeter fetched A's keys at its start, before the rotation:
		// it refetches on an unknown kid only once its cooldown since is
		// over. The delay covers that, as 20 minutes do in production.
		delay   = jwks.DefaultCooldown + time.Second
		workers = 4
		pace    = 10 * time.Millisecond // between a worker's iterations
		// Bounds of the load: calls (a Refresh and a WhoAmI each
		// iteration) and time.
		maxIterations = 3000
		maxDuration   = 30 * time.Second
		// After the activation, the load goes on this long, and until
		// the greeter has accepted this many tokens of the new key.
		tail         = time.Second
		minNewKidOKs = 50
	)
	env := []string{"AUTHD_DB=" + dsn, "AUTHD_KEY_ENCRYPTION_KEY=" + testKEK, "AUTHD_TEST_KEY_RELOAD=" + reload.String()}
	if _, errOut, code := authdWith(t, env, t.TempDir(), "long enough pw\n", "user", "add", "rollover", "--password-stdin"); code != 0 {
		t.Fatalf("user add: %d %s", code, errOut)
	}
	a := startProcess(t, t.TempDir(), env)
	b := authv1.NewAuthServiceClient(dial(t, startProcess(t, t.TempDir(), env).addr))
	greeter := examplev1.NewGreeterServiceClient(dial(t, startGreeter(t, a.addr)))
	ctx, cancel := context.WithTimeout(context.Background(), maxDuration)
	defer cancel()

	// Each worker logs in once on B, then refreshes on B and calls the
	// greeter with each new access token.
	refreshTokens := make([]string, workers)
	for i := range refreshTokens {
		login, err := b.Login(ctx, &authv1.LoginRequest{Username: "rollover", Password: "long enough pw"})
		if err != nil {
			t.Fatal(err)
		}
		refreshTokens[i] = login.RefreshToken
	}
	type call struct {
		start, end time.Time // of the Refresh that minted the token
		kid        string
		err        error // the greeter's answer
	}
	var (
		mu         sync.Mutex
		calls      []call
		failures   []error // Refresh failures: none expected either
		activation time.Time
		newKid     string
		newKidOKs  int
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			refresh := refreshTokens[w]
			for {
				select {
				case <-stop:
					return
				case <-ctx.Done():
					return
				case <-time.After(pace):
				}
				mu.Lock()
				full := len(calls) >= maxIterations
				mu.Unlock()
				if full {
					return
				}
				start := time.Now()
				pair, err := b.Refresh(tokens.Bearer(ctx, refresh), &authv1.RefreshRequest{})
				end := time.Now()
				if err != nil {
					mu.Lock()
					failures = append(failures, err)
					mu.Unlock()
					return
				}
				refresh = pair.RefreshToken
				_, err = greeter.WhoAmI(tokens.Bearer(ctx, pair.AccessToken), &examplev1.WhoAmIRequest{})
				c := call{start: start, end: end, kid: kidOf(pair.AccessToken), err: err}
				mu.Lock()
				calls = append(calls, c)
				if newKid != "" && c.kid == newKid && err == nil {
					newKidOKs++
				}
				mu.Unlock()
			}
		})
	}
	load := time.Now()
	stopLoad := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer stopLoad()

	// Some load on the old key first.
	time.Sleep(300 * time.Millisecond)
	out, errOut, code := authdWith(t, env, t.TempDir(), "", "keys", "rotate", "--key-propagation-delay", delay.String())
	if code != 0 {
		t.Fatalf("keys rotate: exit %d, %s", code, errOut)
	}
	m := regexp.MustCompile(`new signing key (\S+) is next`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("keys rotate said:\n%s", out)
	}
	at := activationOf(t, dsn, m[1])
	mu.Lock()
	newKid, activation = m[1], at
	mu.Unlock()

	// Until the tail after the activation is over and the greeter has
	// accepted enough tokens of the new key (or a bound is reached).
	for {
		mu.Lock()
		done := time.Now().After(activation.Add(tail)) && newKidOKs >= minNewKidOKs
		full := len(calls) >= maxIterations || len(failures) > 0
		mu.Unlock()
		if done || full || ctx.Err() != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	stopLoad()
	elapsed := time.Since(load)

	for _, err := range failures {
		t.Errorf("refresh on B: %v", err)
	}
	var refused, otherErrs, oldKid, newKidCalls, early, late int
	var firstNew time.Time
	for _, c := range calls {
		switch {
		case status.Code(c.err) == codes.Unauthenticated:
			if refused < 5 {
				t.Logf("refused: kid %s (new: %v), minted %s after the activation: %v", c.kid, c.kid == newKid, c.end.Sub(activation), c.err)
			}
			refused++
		case c.err != nil:
			otherErrs++
			t.Errorf("greeter: %v", c.err)
		}
		switch c.kid {
		case newKid:
			newKidCalls++
			if firstNew.IsZero() || c.end.Before(firstNew) {
				firstNew = c.end
			}
			if c.end.Before(activation) {
				early++ // signed before its activation
			}
		default:
			oldKid++
			if c.start.After(activation) {
				late++ // signed by the old key after the activation
			}
		}
	}
	t.Logf("%d iterations (Refresh on B, WhoAmI at the greeter on A's JWKS) in %s: %d tokens of the old key, %d of the new; "+
		"%d refused by the greeter, %d other errors; first token of the new key %s after its activation",
		len(calls), elapsed.Round(time.Millisecond), oldKid, newKidCalls, refused, otherErrs, firstNew.Sub(activation).Round(time.Millisecond))
	if refused != 0 {
		t.Errorf("the greeter refused %d of %d calls across the rotation, want none", refused, len(calls))
	}
	if early != 0 {
		t.Errorf("B signed %d tokens with the new key before its activation", early)
	}
	if late != 0 {
		t.Errorf("B signed %d tokens with the old key after the new one's activation", late)
	}
	if newKidCalls < minNewKidOKs {
		t.Errorf("only %d tokens of the new key within the bounds (%d iterations, %s), want %d", newKidCalls, maxIterations, maxDuration, minNewKidOKs)
	}
}

// kidOf is a JWT's kid, "" when it has none.
func kidOf(raw string) string {
	header, _, _ := strings.Cut(raw, ".")
	data, err := base64.RawURLEncoding.DecodeString(header)
	if err != nil {
		return ""
	}
	var h struct{ Kid string }
	_ = json.Unmarshal(data, &h)
	return h.Kid
}

// activationOf reads the activation time of kid from the database.
func activationOf(t *testing.T, dsn, kid string) time.Time {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var ns int64
	if err := db.QueryRow(`SELECT activates_at_ns FROM signing_keys WHERE id = $1`, kid).Scan(&ns); err != nil {
		t.Fatal(err)
	}
	return time.Unix(0, ns)
}
