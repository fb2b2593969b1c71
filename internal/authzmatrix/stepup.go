package authzmatrix

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

// The step-up rules: a second factor, a recent proof (max_age), both on a
// fresh token as a transfer of money would ask, and a second factor on
// top of a role.
var (
	secondFactorRule      = guard.Rule{SecondFactor: true}
	maxAgeRule            = guard.Rule{MaxAge: 5 * time.Minute}
	transferRule          = guard.Rule{Requirement: guard.FreshAccess, SecondFactor: true, MaxAge: 5 * time.Minute}
	adminSecondFactorRule = guard.Rule{AnyRole: []string{"admin"}, SecondFactor: true}
)

// stepUpColumns are the step-up matrix's methods (each also as NAMEStream),
// with the ErrorInfo metadata of their STEP_UP_REQUIRED: what the rule
// demands, as RFC 9470's acr_values and max_age, whichever part the token
// lacks.
var stepUpColumns = []struct {
	method   string
	rule     *guard.Rule
	metadata map[string]string
}{
	{"SecondFactor", &secondFactorRule, map[string]string{wire.MetadataACRValues: token.ACRSecondFactor}},
	{"MaxAge", &maxAgeRule, map[string]string{wire.MetadataMaxAge: "300"}},
	{"Transfer", &transferRule, map[string]string{wire.MetadataACRValues: token.ACRSecondFactor, wire.MetadataMaxAge: "300"}},
	{"AdminSecondFactor", &adminSecondFactorRule, map[string]string{wire.MetadataACRValues: token.ACRSecondFactor}},
}

var stepUpService = func() authzService {
	s := authzService{name: "StepUp"}
	for _, c := range stepUpColumns {
		s.methods = append(s.methods,
			authzMethod{name: c.method, rule: c.rule},
			authzMethod{name: c.method + "Stream", stream: true, rule: c.rule})
	}
	return s
}()

// The step-up matrix: every caller against a second-factor rule, a
// max_age rule (5 minutes), both on FRESH_ACCESS, and a second factor
// with a role, unary and streaming, declared in a .proto option and in Go.
// A token without the proof a rule demands — no second factor, or one
// older than max_age — is Unauthenticated STEP_UP_REQUIRED naming what is
// required, never PermissionDenied; authentication, freshness and roles
// are heard first (no step-up cures a missing role, and a token that is
// not fresh needs a login anyway).
func testStepUp(t *testing.T, tr Transport) {
	w := newStrictWorld(t, tr, []authzService{stepUpService}, []authzService{stepUpService}, guard.Config{})
	for _, source := range []string{fromProto, fromGo} {
		for _, c := range stepUpColumns {
			// The descriptor carries second_factor and max_age as Go does.
			full := "/" + serviceName(source, stepUpService) + "/" + c.method
			want := *c.rule
			if want.Requirement == 0 {
				want.Requirement = guard.Access
			}
			if got := w.guard.Rule(full); !equalRules(got, want) {
				t.Errorf("Rule(%s) = %+v, want %+v", full, got, want)
			}
		}
	}
	for _, row := range []struct {
		caller string
		want   [4]string // SecondFactor, MaxAge, Transfer, AdminSecondFactor
	}{
		{NoToken, [4]string{missing, missing, missing, missing}},
		{ExpiredToken, [4]string{expired, expired, expired, expired}},
		{RefreshAdmin, [4]string{wrongType, wrongType, wrongType, wrongType}},
		// No auth_time: no proof to speak of, and never fresh.
		{ServiceAccount, [4]string{stepUp, stepUp, notFresh, roleDenied}},
		{PasswordOnly, [4]string{stepUp, ok, stepUp, roleDenied}},
		{StaleFactor, [4]string{ok, stepUp, stepUp, roleDenied}},
		{FreshFactor, [4]string{ok, ok, ok, roleDenied}},
		{RefreshedFactor, [4]string{ok, ok, notFresh, roleDenied}},
		{Admin, [4]string{stepUp, ok, notFresh, stepUp}},
		{AdminFactor, [4]string{ok, ok, notFresh, ok}},
	} {
		for i, c := range stepUpColumns {
			for _, source := range []string{fromProto, fromGo} {
				for _, suffix := range []string{"", "Stream"} {
					full := "/" + serviceName(source, stepUpService) + "/" + c.method + suffix
					t.Run(source+"/"+c.method+suffix+"/"+row.caller, func(t *testing.T) {
						before := w.ran.Load()
						got, err := w.call(row.caller, full)
						wantStepUpOutcome(t, err, row.want[i], c.metadata)
						switch {
						case row.want[i] != ok && w.ran.Load() != before:
							t.Fatal("the handler ran")
						case row.want[i] == ok && got.Subject != SubjectOf(row.caller):
							t.Fatalf("handler saw %q, want %q", got.Subject, SubjectOf(row.caller))
						}
					})
				}
			}
		}
	}

	// max_age counts from auth_time on the guard's clock: a proof exactly
	// max_age old still passes, a second later it no longer does.
	w.iss.Clock.Advance(5 * time.Minute)
	for _, source := range []string{fromProto, fromGo} {
		for _, suffix := range []string{"", "Stream"} {
			full := "/" + serviceName(source, stepUpService) + "/MaxAge" + suffix
			_, err := w.call(FreshFactor, full)
			wantStepUpOutcome(t, err, ok, nil)
		}
	}
	w.iss.Clock.Advance(time.Second)
	for _, source := range []string{fromProto, fromGo} {
		for _, suffix := range []string{"", "Stream"} {
			full := "/" + serviceName(source, stepUpService) + "/MaxAge" + suffix
			_, err := w.call(FreshFactor, full)
			wantStepUpOutcome(t, err, stepUp, stepUpColumns[1].metadata)
		}
	}
}

// wantStepUpOutcome is WantOutcome for the step-up matrix: STEP_UP_REQUIRED
// with metadata, a missing role "admin", or an outcome without metadata.
func wantStepUpOutcome(t *testing.T, err error, want string, metadata map[string]string) {
	t.Helper()
	switch want {
	case stepUp:
		wantRefusal(t, err, codes.Unauthenticated, stepUp, metadata)
	case roleDenied:
		WantOutcome(t, err, roleDenied, "admin")
	default:
		WantOutcome(t, err, want, "")
	}
}
