package client

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"

	"github.com/authd-dev/authd/clock"
	"github.com/authd-dev/authd/dpop"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

// prover signs the DPoP proofs of a client's calls with its key, and
// remembers the last nonce each server (each authority) gave, for the
// proofs of the next calls to it.
type prover struct {
	key   *dpop.Key
	clock clock.Clock

	mu     sync.Mutex
	nonces map[string]string
}

func newProver(key *dpop.Key, clk clock.Clock) *prover {
	return &prover{key: key, clock: clk, nonces: map[string]string{}}
}

// present returns the metadata presenting tok on a call of method to
// scheme://authority: `authorization: Bearer <tok>`, or, for a token bound
// to a key (bound; a nil p has none), `authorization: DPoP <tok>` beside a
// proof of the key for this call. With no token (Login, IssueClientToken)
// it is the proof alone, which asks authd to bind what it issues.
func (p *prover) present(scheme, authority, method, tok string, bound bool) (map[string]string, error) {
	if p == nil || (tok != "" && !bound) {
		if tok == "" {
			return nil, nil
		}
		return map[string]string{wire.AuthorizationKey: "Bearer " + tok}, nil
	}
	p.mu.Lock()
	nonce := p.nonces[authority]
	p.mu.Unlock()
	proof, err := p.key.Proof(http.MethodPost, dpop.HTU(scheme, authority, method), tok, nonce, p.clock.Now())
	if err != nil {
		return nil, err
	}
	md := map[string]string{wire.DPoPKey: proof}
	if tok != "" {
		md[wire.AuthorizationKey] = wire.DPoPScheme + " " + tok
	}
	return md, nil
}

// adoptNonce keeps the nonce the server at authority sent: in err, a
// DPOP_NONCE_REQUIRED refusal, or in the dpop-nonce header of its header
// or trailer. It reports whether err asks for the call to be made again
// with a proof carrying it.
func (p *prover) adoptNonce(authority string, err error, mds ...metadata.MD) (retry bool) {
	if p == nil || authority == "" {
		return false
	}
	nonce, _ := dpop.NonceOf(err)
	for _, md := range mds {
		if v := md.Get(wire.DPoPNonceHeader); nonce == "" && len(v) > 0 {
			nonce = v[len(v)-1]
		}
	}
	if nonce == "" {
		return false
	}
	p.mu.Lock()
	p.nonces[authority] = nonce
	p.mu.Unlock()
	return wire.Reason(err) == wire.ReasonDPoPNonceRequired
}

// boundToKey reports whether a token's claims bind it to a DPoP key
// (cnf.jkt). A token bound to a certificate (cnf x5t#S256) travels as a
// Bearer token over the mutual-TLS connection that proves it.
func boundToKey(c *token.Claims) bool {
	return c != nil && c.Confirmation.GetJWKThumbprint() != ""
}

// target is where one call went, as the credentials saw it: the authority
// they signed its proof for, which the interceptors need to keep the nonce
// a refusal brings.
type target struct {
	mu        sync.Mutex
	authority string
}

type targetKey struct{}

func withTarget(ctx context.Context) (context.Context, *target) {
	t := &target{}
	return context.WithValue(ctx, targetKey{}, t), t
}

func (t *target) get() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.authority
}

// requestTarget reads what a proof signs from what grpc-go hands per-RPC
// credentials: the full method from the RequestInfo, the authority from
// uri ("https://<authority>/<pkg.Service>", always https, and without a
// :443 port), and the scheme from the connection: https over TLS, http
// otherwise, as the server sees it. It notes the authority in ctx's target.
func requestTarget(ctx context.Context, uri []string) (scheme, authority, method string, _ error) {
	ri, ok := credentials.RequestInfoFromContext(ctx)
	if !ok || len(uri) == 0 {
		return "", "", "", errors.New("authd client: no request info for a DPoP proof")
	}
	rest, _ := strings.CutPrefix(uri[0], "https://")
	authority, _, _ = strings.Cut(rest, "/")
	scheme = "http"
	if _, ok := ri.AuthInfo.(credentials.TLSInfo); ok {
		scheme = "https"
	}
	if t, ok := ctx.Value(targetKey{}).(*target); ok {
		t.mu.Lock()
		t.authority = authority
		t.mu.Unlock()
	}
	return scheme, authority, ri.Method, nil
}

// authdCreds present a token, or none, with a proof on one of the client's
// own calls to authd (Login, Refresh, StepUp, Logout, IssueClientToken),
// as call credentials: grpc-go gives them the authority and the connection
// the proof is signed for.
type authdCreds struct {
	p     *prover
	tok   string
	bound bool
}

func (a authdCreds) GetRequestMetadata(ctx context.Context, uri ...string) (map[string]string, error) {
	scheme, authority, method, err := requestTarget(ctx, uri)
	if err != nil {
		return nil, err
	}
	return a.p.present(scheme, authority, method, a.tok, a.bound)
}

// RequireTransportSecurity is false: the client's calls to authd go over
// the connection the application gave for authd, as they do without DPoP.
func (a authdCreds) RequireTransportSecurity() bool { return false }

// callAuthd makes call, one of the client's own calls to authd,
// presenting tok ("" for none) as Bearer, or, with p, as DPoP with a proof
// when bound (a proof alone without a token); when authd answers
// DPOP_NONCE_REQUIRED it makes it once more with a proof carrying the
// nonce.
func callAuthd(ctx context.Context, p *prover, tok string, bound bool, call func(context.Context, ...grpc.CallOption) error) error {
	ctx = internal(ctx)
	if p == nil {
		if tok != "" {
			ctx = withBearer(ctx, tok)
		}
		return call(ctx)
	}
	ctx, tgt := withTarget(ctx)
	var header, trailer metadata.MD
	opts := []grpc.CallOption{grpc.PerRPCCredentials(authdCreds{p, tok, bound}), grpc.Header(&header), grpc.Trailer(&trailer)}
	err := call(ctx, opts...)
	if p.adoptNonce(tgt.get(), err, header, trailer) {
		err = call(ctx, opts...)
		p.adoptNonce(tgt.get(), err, header, trailer)
	}
	return err
}
