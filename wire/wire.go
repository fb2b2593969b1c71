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
	// CookieKey carries a browser's cookies (the HTTP Cookie header).
	CookieKey = "cookie"
	// SetCookieKey is the response header that sets them.
	SetCookieKey = "set-cookie"
	// CSRFHeader carries, on a call authenticated by cookie, the value of
	// the CSRF cookie (double submit): a page of another origin can make a
	// browser send the cookies, but cannot read the CSRF cookie to copy it.
	CSRFHeader = "x-csrf-token"
	// DPoPKey carries a DPoP proof (RFC 9449 §4): a JWT signed by the key a
	// token is bound to, for this call.
	DPoPKey = "dpop"
	// DPoPNonceHeader is the response header with a nonce the next proof
	// must carry (DPOP_NONCE_REQUIRED).
	DPoPNonceHeader = "dpop-nonce"
	// DPoPScheme is the authorization scheme of a DPoP-bound token:
	// "DPoP <token>".
	DPoPScheme = "DPoP"
)

// The cookies of a browser session (LoginRequest.set_cookies), by default:
// a consumer on another origin than authd may name them otherwise
// (guard.Cookies).
const (
	// AccessCookie holds the access token: HttpOnly; Secure;
	// SameSite=Lax; Path=/.
	AccessCookie = "__Host-authd-access"
	// RefreshCookie holds the refresh token: HttpOnly; Secure;
	// SameSite=Strict; Path=RefreshCookiePath, so that it travels only to
	// authd's own procedures.
	RefreshCookie = "__Secure-authd-refresh"
	// RefreshCookiePath is the refresh cookie's Path.
	RefreshCookiePath = "/auth.v1.AuthService/"
	// CSRFCookie holds the anti-CSRF value, readable by the page's
	// scripts: Secure; SameSite=Strict; Path=/.
	CSRFCookie = "__Host-authd-csrf"
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
	// ReasonCSRFTokenInvalid (PERMISSION_DENIED): a call authenticated by
	// cookie without the CSRF header equal to the CSRF cookie. It is
	// checked before anything else; a call with an authorization header
	// needs none.
	ReasonCSRFTokenInvalid = "CSRF_TOKEN_INVALID"
	// ReasonStepUpRequired (UNAUTHENTICATED): the token is valid but the
	// method's rule wants a second factor or a more recent proof
	// (MetadataACRValues, MetadataMaxAge): StepUp, not Refresh.
	ReasonStepUpRequired = "STEP_UP_REQUIRED"
	// ReasonDPoPProofRequired (UNAUTHENTICATED): a token bound to a key
	// (cnf.jkt) sent as a Bearer token or without a DPoP proof, or an
	// unbound token on a method whose rule is sender_constrained.
	ReasonDPoPProofRequired = "DPOP_PROOF_REQUIRED"
	// ReasonDPoPProofInvalid (UNAUTHENTICATED): a DPoP proof that does not
	// check: signature, key, typ, alg, htm, htu, iat window, ath, a jti
	// seen before, size.
	ReasonDPoPProofInvalid = "DPOP_PROOF_INVALID"
	// ReasonDPoPNonceRequired (UNAUTHENTICATED): the proof lacks the
	// server's current nonce; the response header dpop-nonce carries it:
	// sign a new proof with it and retry once.
	ReasonDPoPNonceRequired = "DPOP_NONCE_REQUIRED"
)

// ErrorInfo metadata keys of PermissionDenied refusals: what the method
// requires, space-separated.
const (
	MetadataRequiredRoles  = "required_roles"
	MetadataRequiredScopes = "required_scopes"
)

// ErrorInfo metadata keys of STEP_UP_REQUIRED, as RFC 9470 names them: the
// acr the token needs, and the most seconds since its auth_time.
const (
	MetadataACRValues = "acr_values"
	MetadataMaxAge    = "max_age"
)
