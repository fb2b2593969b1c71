package main

import (
	"bytes"
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/dpop"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/internal/pgschema"
	"github.com/authd-dev/authd/wire"
)

// Second factors and DPoP nonces across a fleet: two authd instances on
// one PostgreSQL database with one key-encryption secret. A TOTP secret
// enrolled on A is sealed in the database and opens on B; a login whose
// password A checked is completed on B; a code spent on B is refused on A;
// a DPoP nonce A hands out is accepted by B.
func TestE2E_FleetSecondFactorsAndNonces(t *testing.T) {
	t.Parallel()
	dsn := pgschema.ForTest(t, "authd_e2e")
	env := []string{"AUTHD_DB=" + dsn, "AUTHD_KEY_ENCRYPTION_KEY=" + testKEK}
	data := t.TempDir()
	if _, errOut, code := authdWith(t, env, data, "long enough pw\n", "user", "add", "erin", "--password-stdin"); code != 0 {
		t.Fatalf("user add: %d %s", code, errOut)
	}
	aAddr, bAddr := startServe(t, data, env, "--dpop-nonce").addr, startServe(t, data, env, "--dpop-nonce").addr
	a, b := authv1.NewAuthServiceClient(dial(t, aAddr)), authv1.NewAuthServiceClient(dial(t, bAddr))
	ctx, cancel := context.WithTimeout(bg, patience)
	defer cancel()
	creds := &authv1.LoginRequest{Username: "erin", Password: "long enough pw"}

	login, err := a.Login(ctx, creds)
	if err != nil {
		t.Fatal(err)
	}
	fresh := tokens.Bearer(ctx, login.AccessToken)
	enrol, err := a.EnrollTOTP(fresh, &authv1.EnrollTOTPRequest{})
	if err != nil {
		t.Fatal(err)
	}
	// Codes of now and of the next step: authd accepts one step either
	// side, each step once and only after the last one it accepted.
	code := func(at time.Time) string {
		c, err := totp.GenerateCode(enrol.Secret, at)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	spent := code(time.Now())
	if _, err := b.ConfirmTOTP(fresh, &authv1.ConfirmTOTPRequest{Code: spent}); err != nil {
		t.Fatalf("confirming on B what A enrolled: %v", err)
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var stored []byte
	if err := db.QueryRowContext(ctx, `SELECT t.secret FROM totp t JOIN users u ON u.id = t.user_id WHERE u.name = 'erin'`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if len(stored) == 0 || bytes.Contains(stored, []byte(enrol.Secret)) {
		t.Fatalf("the stored TOTP secret is not sealed: %q", stored)
	}

	// A login whose password A checked: B refuses the code the
	// confirmation spent (a replay), then completes it with the next one.
	challenge, err := a.Login(ctx, creds)
	if err != nil || !challenge.SecondFactorRequired {
		t.Fatalf("Login on A = %v, %v; want second_factor_required", challenge, err)
	}
	_, err = b.LoginSecondFactor(ctx, &authv1.LoginSecondFactorRequest{SecondFactorToken: challenge.SecondFactorToken, Code: spent})
	if status.Code(err) != codes.Unauthenticated || wire.Reason(err) != wire.ReasonInvalidCredentials {
		t.Fatalf("the confirmation's code, on B: %v", err)
	}
	next := code(time.Now().Add(30 * time.Second))
	done, err := b.LoginSecondFactor(ctx, &authv1.LoginSecondFactorRequest{SecondFactorToken: challenge.SecondFactorToken, Code: next})
	if err != nil || done.AccessToken == "" {
		t.Fatalf("completing on B the login A started: %v, %v", done, err)
	}
	again, err := a.Login(ctx, creds)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.LoginSecondFactor(ctx, &authv1.LoginSecondFactorRequest{SecondFactorToken: again.SecondFactorToken, Code: next}); status.Code(err) != codes.Unauthenticated || wire.Reason(err) != wire.ReasonInvalidCredentials {
		t.Fatalf("the code B accepted, on A: %v", err)
	}

	// A DPoP nonce from A is good at B: they derive their nonce secret
	// from the key-encryption secret they share.
	key, err := dpop.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	proofFor := func(addr, nonce string) context.Context {
		p, err := key.Proof("POST", dpop.HTU("http", addr, authv1.AuthService_Login_FullMethodName), "", nonce, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return metadata.AppendToOutgoingContext(ctx, wire.DPoPKey, p)
	}
	var header metadata.MD
	_, err = a.Login(proofFor(aAddr, ""), creds, grpc.Header(&header))
	if wire.Reason(err) != wire.ReasonDPoPNonceRequired || len(header.Get(wire.DPoPNonceHeader)) != 1 {
		t.Fatalf("a proof without a nonce on A: %v, dpop-nonce %q", err, header.Get(wire.DPoPNonceHeader))
	}
	bound, err := b.Login(proofFor(bAddr, header.Get(wire.DPoPNonceHeader)[0]), creds)
	if err != nil || !bound.SecondFactorRequired {
		t.Fatalf("B with A's nonce: %v, %v; want the login accepted (second factor next)", bound, err)
	}
}
