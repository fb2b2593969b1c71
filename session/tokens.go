package session

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc/codes"

	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

// Tokens are what Open and Refresh hand out.
type Tokens struct {
	SessionID string
	Access    string
	// Refresh is "" after a Refresh with KeepRefreshToken: the client keeps
	// the one it has.
	Refresh          string
	AccessExpiresIn  time.Duration
	RefreshExpiresIn time.Duration
}

// Proof is how the user of a new session proved who they are, and what
// its tokens are bound to.
type Proof struct {
	// AMR is how (RFC 8176 values; none: a password, "pwd").
	AMR []string
	// Bind, when set, binds every token of the session to a DPoP key
	// (JWKThumbprint, cnf.jkt) or a client certificate
	// (CertificateThumbprint, cnf.x5t#S256): a stolen refresh token is no
	// use without them.
	Bind *token.Confirmation
}

// Open starts a session for user, who just proved who they are as proof
// says: a fresh access token and a refresh token, both bounded by the
// session cap, carrying the amr and the level it adds up to (acr:
// token.ACRSecondFactor with "mfa", token.ACRPassword otherwise), and
// bound as proof.Bind says. A change of the user's since that check (its
// generation moved) refuses it with ErrUserChanged. Past
// Config.MaxSessions live sessions of the user, the oldest are revoked,
// and announced.
func (e *Engine) Open(ctx context.Context, user store.User, proof Proof) (Tokens, error) {
	now := e.now()
	amr := proof.AMR
	if len(amr) == 0 {
		amr = []string{"pwd"}
	}
	sess := store.Session{
		ACR: acrOf(amr),
		AMR: amr,
		// Every token of the session carries the binding.
		KeyThumbprint:         proof.Bind.GetJWKThumbprint(),
		CertificateThumbprint: proof.Bind.GetCertificateThumbprint(),
		ID:                    token.NewID(),
		UserID:                user.ID,
		Username:              user.Name,
		Roles:                 user.Roles,
		// The generation the password was checked under: a password,
		// roles or disabled change since refuses the session.
		UserGeneration: user.Generation,
		AuthTime:       now,
		CreatedAt:      now,
		ExpiresAt:      now.Add(e.cfg.SessionMax),
	}
	sess.Current = e.nextRotation(sess, now)
	pair, err := e.mint(ctx, sess, sess.Current, true, now)
	if err != nil {
		return Tokens{}, err
	}
	if err := e.store.CreateSession(ctx, sess); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return Tokens{}, ErrUserChanged
		}
		return Tokens{}, err
	}
	evicted, err := e.store.RevokeExcessSessions(ctx, user.ID, sess.ID, e.cfg.MaxSessions, now)
	if len(evicted) > 0 {
		e.revoked(ctx, evicted...)
	}
	if err != nil {
		return Tokens{}, err
	}
	return pair, nil
}

// nextRotation picks the ids and lifetimes of a new token pair: the refresh
// token's idle lifetime restarts, and neither outlives the session cap.
func (e *Engine) nextRotation(sess store.Session, now time.Time) store.Rotation {
	return store.Rotation{
		RefreshJTI:       token.NewID(),
		RefreshIssuedAt:  now,
		RefreshExpiresAt: earliest(now.Add(e.cfg.RefreshTTL), sess.ExpiresAt),
		AccessJTI:        token.NewID(),
		AccessIssuedAt:   now,
		AccessExpiresAt:  earliest(now.Add(e.cfg.AccessTTL), sess.ExpiresAt),
	}
}

// mint signs the pair r describes. Signing is deterministic, so minting the
// same rotation again gives the same tokens: that is how a spent refresh
// token presented again gets the very same successor pair.
func (e *Engine) mint(ctx context.Context, sess store.Session, r store.Rotation, fresh bool, now time.Time) (Tokens, error) {
	if e.cfg.Signer == nil {
		return Tokens{}, errNoSigner
	}
	access, err := e.signAccess(ctx, sess, r.AccessJTI, r.AccessIssuedAt, r.AccessExpiresAt, fresh)
	if err != nil {
		return Tokens{}, err
	}
	refresh, err := e.cfg.Signer.Sign(e.claims(sess, token.Refresh, r.RefreshJTI, r.RefreshIssuedAt, r.RefreshExpiresAt, false))
	if err != nil {
		return Tokens{}, err
	}
	// A pair minted again for a late retry may hold an access token that
	// has expired since: it says so (0), and the client refreshes.
	return Tokens{
		SessionID: sess.ID, Access: access, Refresh: refresh,
		AccessExpiresIn:  max(r.AccessExpiresAt.Sub(now), 0),
		RefreshExpiresIn: max(r.RefreshExpiresAt.Sub(now), 0),
	}, nil
}

// signAccess signs an access token of sess, with the claims the embedder's
// hook adds.
func (e *Engine) signAccess(ctx context.Context, sess store.Session, jti string, iat, exp time.Time, fresh bool) (string, error) {
	if e.cfg.Signer == nil {
		return "", errNoSigner
	}
	c := e.claims(sess, token.Access, jti, iat, exp, fresh)
	if e.cfg.Claims != nil {
		extra, err := e.cfg.Claims(ctx, sess.Username, sess.Roles)
		if err != nil {
			return "", fmt.Errorf("additional claims: %w", err)
		}
		c.Extra = extra
	}
	return e.cfg.Signer.Sign(c)
}

func (e *Engine) claims(sess store.Session, typ token.Type, jti string, iat, exp time.Time, fresh bool) token.Claims {
	var roles, amr []string
	var acr string
	if typ == token.Access {
		// Refresh tokens are never checked for roles or how the user
		// proved who they are.
		roles, amr, acr = sess.Roles, sess.AMR, sess.ACR
	}
	return token.Claims{
		Subject:   sess.Username,
		ExpiresAt: jwt.NewNumericDate(exp),
		NotBefore: jwt.NewNumericDate(iat),
		IssuedAt:  jwt.NewNumericDate(iat),
		ID:        jti,
		Type:      typ,
		Fresh:     token.Fresh{Value: fresh},
		SessionID: sess.ID,
		AuthTime:  jwt.NewNumericDate(sess.AuthTime),
		Roles:     roles,
		AMR:       amr,
		ACR:       acr,
		// Both token types are bound: a stolen refresh token of a bound
		// session cannot be refreshed without the key.
		Confirmation: confirmation(sess.KeyThumbprint, sess.CertificateThumbprint),
	}
}

// confirmation is the cnf claim of a session bound to jkt or x5t, nil for
// a bearer session.
func confirmation(jkt, x5t string) *token.Confirmation {
	if jkt == "" && x5t == "" {
		return nil
	}
	return &token.Confirmation{JWKThumbprint: jkt, CertificateThumbprint: x5t}
}

// acrOf is the level amr adds up to: two factors ("mfa") or one.
func acrOf(amr []string) string {
	if slices.Contains(amr, "mfa") {
		return token.ACRSecondFactor
	}
	return token.ACRPassword
}

// StepUp records a new proof of the user of the live session of the
// verified access token of claims, made as amr says (a second factor:
// "otp", "mfa"): the session's auth_time becomes now and its amr and acr
// take the proof in, so that every later token of the session carries
// them; and it returns a fresh access token of the session that does,
// never past its cap, and its lifetime.
func (e *Engine) StepUp(ctx context.Context, claims *token.Claims, amr []string) (string, time.Duration, error) {
	sess, err := e.accessSession(ctx, claims)
	if err != nil {
		return "", 0, err
	}
	now := e.now()
	for _, m := range amr {
		if !slices.Contains(sess.AMR, m) {
			sess.AMR = append(slices.Clip(sess.AMR), m)
		}
	}
	sess.ACR, sess.AuthTime = acrOf(sess.AMR), now
	switch err := e.store.StepUpSession(ctx, sess.ID, sess.ACR, sess.AMR, now); {
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
		return "", 0, guard.ErrRevoked
	case err != nil:
		return "", 0, err
	}
	exp := earliest(now.Add(e.cfg.AccessTTL), sess.ExpiresAt)
	access, err := e.signAccess(ctx, sess, token.NewID(), now, exp, true)
	return access, exp.Sub(now), err
}

// ErrReused: a refresh token of the session was presented after its
// successor had been used (a second branch of the session), or an older
// one: the whole session has been revoked. It is a guard.ErrRevoked.
var ErrReused = fmt.Errorf("%w: refresh token reused; session revoked", guard.ErrRevoked)

// ErrSuperseded: a spent refresh token whose successor has been used was
// presented by a refresh that cannot be reuse — it raced the refresh that
// spent the token, or came within Config.ReuseGrace of its successor's
// first use. Nothing was issued and the session goes on: the caller's
// newest refresh token still works.
var ErrSuperseded = wire.NewError(codes.Aborted, wire.ReasonRefreshSuperseded,
	"refresh token was already rotated by a later refresh; use the newest refresh token")

// Refresh exchanges the verified refresh token of claims for a new pair.
// With rotation, by the refresh token presented:
//
//   - the session's current one (never used) is spent in one
//     compare-and-swap and a new pair issued (signed first: a pair that
//     cannot be minted leaves the client's token unspent);
//   - the one spent to mint the current pair, whose successor is thus
//     still unused, gets that same pair again, for as long as the
//     successor stays unused (within the spent token's own life, which
//     its verification checked): a retry of a refresh whose answer was
//     lost, a second tab. Two holders of one token share one branch;
//   - one the refresh read as current but lost the compare-and-swap to a
//     concurrent refresh of the same token (its twin): the pair the twin
//     got, even if that pair has been used since; ErrSuperseded when it
//     has moved on further still;
//   - the one spent before the current pair's (its successor has been
//     used: this is a second branch) within ReuseGrace of that use:
//     ErrSuperseded, the session kept;
//   - any other token of the session is reuse: the session is revoked and
//     ErrReused returned.
//
// The session is read here, once, and refused when it is revoked, stale,
// gone or past its cap.
func (e *Engine) Refresh(ctx context.Context, claims *token.Claims) (Tokens, error) {
	if claims.SessionID == "" {
		return Tokens{}, ErrNoSession
	}
	now := e.now()
	sess, err := e.live(ctx, claims.SessionID)
	if err != nil {
		return Tokens{}, err
	}
	if e.cfg.KeepRefreshToken {
		return e.refreshWithoutRotation(ctx, sess, claims, now)
	}
	twin := false
	if sess.Current.RefreshJTI == claims.ID {
		next := e.nextRotation(sess, now)
		pair, err := e.mint(ctx, sess, next, false, now)
		if err != nil {
			return Tokens{}, err
		}
		err = e.store.Rotate(ctx, sess.ID, claims.ID, next, now)
		if err == nil {
			return pair, nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return Tokens{}, err
		}
		// A concurrent refresh spent the same token first: answer as it
		// did, whatever has happened since.
		twin = true
		if sess, err = e.live(ctx, claims.SessionID); err != nil {
			return Tokens{}, err
		}
	}
	switch spent := claims.ID; {
	case spent == "":
	case sess.Previous.RefreshJTI == spent:
		// Spent, and its successor (the current pair) never used.
		return e.mint(ctx, sess, sess.Current, false, now)
	case twin && sess.PreviousParentJTI == spent && sess.Previous.AccessJTI != "":
		// The twin's pair has been used since: the same pair still.
		return e.mint(ctx, sess, sess.Previous, false, now)
	case twin:
		return Tokens{}, ErrSuperseded
	case sess.PreviousParentJTI == spent && e.cfg.ReuseGrace > 0 && now.Sub(sess.PreviousSpentAt) <= e.cfg.ReuseGrace:
		return Tokens{}, ErrSuperseded
	}
	if err := e.revoke(ctx, sess.ID, now); err != nil {
		return Tokens{}, err
	}
	return Tokens{}, ErrReused
}

// refreshWithoutRotation mints an access token and hands back no refresh
// token: the client keeps the one it has.
func (e *Engine) refreshWithoutRotation(ctx context.Context, sess store.Session, claims *token.Claims, now time.Time) (Tokens, error) {
	if sess.Current.RefreshJTI != claims.ID {
		return Tokens{}, guard.ErrRevoked
	}
	exp := earliest(now.Add(e.cfg.AccessTTL), sess.ExpiresAt)
	access, err := e.signAccess(ctx, sess, token.NewID(), now, exp, false)
	if err != nil {
		return Tokens{}, err
	}
	return Tokens{SessionID: sess.ID, Access: access, AccessExpiresIn: exp.Sub(now), RefreshExpiresIn: claims.Expiry().Sub(now)}, nil
}

// live returns the session, or guard.ErrRevoked when it is revoked, stale,
// gone or past its cap.
func (e *Engine) live(ctx context.Context, sid string) (store.Session, error) {
	sess, err := e.store.Session(ctx, sid)
	if errors.Is(err, store.ErrNotFound) {
		return store.Session{}, guard.ErrRevoked
	}
	if err != nil {
		return store.Session{}, err
	}
	if sess.Revoked() || !e.now().Before(sess.ExpiresAt) {
		return store.Session{}, guard.ErrRevoked
	}
	return sess, nil
}

// accessSession returns the live session of the verified access token of
// claims: ErrAccessRequired for another type, ErrNoSession for a token of
// none, guard.ErrRevoked when it is not live.
func (e *Engine) accessSession(ctx context.Context, claims *token.Claims) (store.Session, error) {
	if claims.Type != token.Access {
		return store.Session{}, guard.ErrAccessRequired
	}
	if claims.SessionID == "" {
		return store.Session{}, ErrNoSession
	}
	return e.live(ctx, claims.SessionID)
}

// Renew returns a new non-fresh access token for the live session of the
// verified access token of claims, never past the session's cap, and its
// expiry. At the cap (the session ends no later than the token) it returns
// ErrSessionCap.
func (e *Engine) Renew(ctx context.Context, claims *token.Claims) (string, time.Duration, error) {
	sess, err := e.accessSession(ctx, claims)
	if err != nil {
		return "", 0, err
	}
	now := e.now()
	exp := earliest(now.Add(e.cfg.AccessTTL), sess.ExpiresAt)
	// At the cap only when the session ends no later than the token: a
	// renewal in the login's own second has the same exp, and is no cap.
	if !sess.ExpiresAt.After(claims.Expiry()) {
		return "", 0, ErrSessionCap
	}
	access, err := e.signAccess(ctx, sess, token.NewID(), now, exp, false)
	return access, exp.Sub(now), err
}

// RenewAccess makes the Engine an in-process guard.Renewer, for a server
// that holds the keys and the store (authd itself): the same renewal as
// Renew.
func (e *Engine) RenewAccess(ctx context.Context, _ string, claims *token.Claims) (string, error) {
	access, _, err := e.Renew(ctx, claims)
	return access, err
}

// IssueClientToken opens the session of one service-account token and
// signs it: scopes in its scope claim, no refresh token, no auth_time, the
// session capped at the token's exp (so disabling the client or rotating
// its secret revokes it through the revocation list, and it can be
// neither refreshed nor renewed). It returns the token and its lifetime.
func (e *Engine) IssueClientToken(ctx context.Context, client store.User, scopes []string, bind *token.Confirmation) (string, time.Duration, error) {
	if e.cfg.Signer == nil {
		return "", 0, errNoSigner
	}
	now := e.now()
	exp := now.Add(e.cfg.AccessTTL)
	sess := store.Session{
		ID: token.NewID(), UserID: client.ID, Username: client.Name, UserGeneration: client.Generation,
		AuthTime: now, CreatedAt: now, ExpiresAt: exp,
		KeyThumbprint: bind.GetJWKThumbprint(), CertificateThumbprint: bind.GetCertificateThumbprint(),
		Current: store.Rotation{AccessJTI: token.NewID(), AccessIssuedAt: now, AccessExpiresAt: exp,
			RefreshIssuedAt: now, RefreshExpiresAt: now},
	}
	if err := e.store.CreateSession(ctx, sess); err != nil {
		if errors.Is(err, store.ErrConflict) {
			err = ErrUserChanged // disabled or its secret rotated meanwhile
		}
		return "", 0, err
	}
	raw, err := e.cfg.Signer.Sign(token.Claims{
		Subject:   client.Name,
		ExpiresAt: jwt.NewNumericDate(exp),
		NotBefore: jwt.NewNumericDate(now),
		IssuedAt:  jwt.NewNumericDate(now),
		ID:        sess.Current.AccessJTI,
		Type:      token.Access,
		SessionID: sess.ID,
		// No auth_time: no password was typed, so no fresh-for window
		// (guard.Config.FreshMaxAge) can make the token fresh.
		Scope:        strings.Join(scopes, " "),
		Confirmation: confirmation(sess.KeyThumbprint, sess.CertificateThumbprint),
	})
	if err != nil {
		return "", 0, err
	}
	return raw, exp.Sub(now), nil
}
