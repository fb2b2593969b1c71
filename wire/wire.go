package wire

// Metadata keys authd reads and writes.
const (
	// AuthorizationKey carries the caller's token: "Bearer <jwt>".
	AuthorizationKey = "authorization"
	// RenewalHeader is the response header carrying a renewed access token
	// (sliding sessions).
	RenewalHeader = "x-access-token"
	// RequestIDHeader carries a call's request id, in and out.
	RequestIDHeader = "x-request-id"
)

// Domain is the ErrorInfo domain of every refusal authd makes.
const Domain = "authd"

// The ErrorInfo reasons a caller can see (docs/errors.md).
const (
	ReasonTokenMissing       = "TOKEN_MISSING"
	ReasonTokenInvalid       = "TOKEN_INVALID"
	ReasonTokenExpired       = "TOKEN_EXPIRED"
	ReasonWrongTokenType     = "WRONG_TOKEN_TYPE"
	ReasonFreshTokenRequired = "FRESH_TOKEN_REQUIRED"
	ReasonTokenRevoked       = "TOKEN_REVOKED"
	ReasonInvalidCredentials = "INVALID_CREDENTIALS"
	ReasonSessionCapReached  = "SESSION_CAP_REACHED"
	ReasonInsufficientRole   = "INSUFFICIENT_ROLE"
	ReasonInsufficientScope  = "INSUFFICIENT_SCOPE"
	// ReasonRefreshSuperseded (ABORTED): Refresh with a spent refresh
	// token that a later refresh has already moved past, where that is no
	// sign of theft (a refresh racing its twin, or within
	// --refresh-reuse-grace); the session goes on, use the newest token.
	ReasonRefreshSuperseded = "REFRESH_SUPERSEDED"
	// ReasonLoginInFlight (RESOURCE_EXHAUSTED, with a RetryInfo): a login
	// (or ChangePassword, IssueClientToken) refused unchecked because too
	// many attempts for the account from the address, or from the address,
	// are still being checked. Nothing failed; retry after the delay.
	ReasonLoginInFlight = "LOGIN_IN_FLIGHT"
)

// ErrorInfo metadata keys of PermissionDenied refusals: what the method
// requires, space-separated.
const (
	MetadataRequiredRoles  = "required_roles"
	MetadataRequiredScopes = "required_scopes"
)
