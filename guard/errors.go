package guard

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

// The refusals of a Decide, besides token's (token.ErrInvalid,
// token.ErrExpired, token.ErrKeysUnavailable): each a row of the error
// table (docs/errors.md), sent by the transport's adapter with
// wire.StatusError or its connect equivalent.
var (
	// ErrMissing: no credential, or one that is not exactly one
	// well-formed "Bearer <token>".
	ErrMissing = wire.NewError(codes.Unauthenticated, wire.ReasonTokenMissing, "missing authorization metadata")
	// ErrAccessRequired and ErrRefreshRequired: a token of the other type.
	ErrAccessRequired  = wire.NewError(codes.Unauthenticated, wire.ReasonWrongTokenType, "only access tokens are allowed")
	ErrRefreshRequired = wire.NewError(codes.Unauthenticated, wire.ReasonWrongTokenType, "only refresh tokens are allowed")
	// ErrFreshRequired: a FRESH_ACCESS method called with a token that is
	// not fresh; only a new login helps.
	ErrFreshRequired = wire.NewError(codes.Unauthenticated, wire.ReasonFreshTokenRequired, "Fresh token required")
	// ErrRevoked: the token's session is revoked (or unknown to authd).
	ErrRevoked = wire.NewError(codes.Unauthenticated, wire.ReasonTokenRevoked, "Token has been revoked")
	// ErrUnbound: the token is bound to a key or certificate (its cnf
	// claim) that the call does not prove it holds.
	ErrUnbound = fmt.Errorf("%w: bound to a key or certificate the call does not present", token.ErrInvalid)
	// ErrUnavailable: a check could not be made (the revocation list is
	// stale, authd cannot be reached). The call fails closed.
	ErrUnavailable = wire.NewError(codes.Unavailable, "", "authentication backend unavailable")
	// ErrInsufficientRole and ErrInsufficientScope refuse an authenticated
	// caller whose token lacks what the method's rule requires:
	// PermissionDenied, never Unauthenticated, since a new token for the
	// same subject would not help. The refusal names what is required in
	// its ErrorInfo metadata (wire.MetadataRequiredRoles or
	// wire.MetadataRequiredScopes).
	ErrInsufficientRole  = wire.NewError(codes.PermissionDenied, wire.ReasonInsufficientRole, "insufficient role")
	ErrInsufficientScope = wire.NewError(codes.PermissionDenied, wire.ReasonInsufficientScope, "insufficient scope")
	// ErrStepUpRequired: the token is valid, but its subject must prove
	// who they are again, or with a second factor, as the method's rule
	// demands (Rule.SecondFactor, Rule.MaxAge): Unauthenticated, never
	// PermissionDenied, and no refresh would help. The gRPC form of RFC
	// 9470's insufficient_user_authentication; StepUpRequired names what
	// is required in the ErrorInfo metadata.
	ErrStepUpRequired = wire.NewError(codes.Unauthenticated, wire.ReasonStepUpRequired, "step-up authentication required")
)

// StepUpRequired is ErrStepUpRequired naming what rule requires:
// wire.MetadataACRValues (token.ACRSecondFactor) with SecondFactor,
// wire.MetadataMaxAge (seconds) with MaxAge.
func StepUpRequired(rule Rule) error {
	md := map[string]string{}
	var want []string
	if rule.SecondFactor {
		md[wire.MetadataACRValues] = token.ACRSecondFactor
		want = append(want, "a second factor")
	}
	if rule.MaxAge > 0 {
		secs := int64((rule.MaxAge + time.Second - 1) / time.Second)
		md[wire.MetadataMaxAge] = strconv.FormatInt(secs, 10)
		want = append(want, fmt.Sprintf("proof within %ds", secs))
	}
	return ErrStepUpRequired.Detail("step-up authentication required: "+strings.Join(want, " and "), md, 0)
}

// InsufficientRole is ErrInsufficientRole naming the roles, one of which
// is required.
func InsufficientRole(roles []string) error {
	list := strings.Join(roles, " ")
	return ErrInsufficientRole.Detail(fmt.Sprintf("insufficient role: one of [%s] required", list),
		map[string]string{wire.MetadataRequiredRoles: list}, 0)
}

// InsufficientScope is ErrInsufficientScope naming the scopes, every one
// of which is required.
func InsufficientScope(scopes []string) error {
	list := strings.Join(scopes, " ")
	return ErrInsufficientScope.Detail(fmt.Sprintf("insufficient scope: [%s] required", list),
		map[string]string{wire.MetadataRequiredScopes: list}, 0)
}
