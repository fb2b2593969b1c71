package connectauth

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"

	"connectrpc.com/connect"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/authd-dev/authd/dpop"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/protect"
	"github.com/authd-dev/authd/wire"
)

// Authenticator applies a guard.Guard to the procedures of connect-go
// handlers. It is safe for concurrent use.
type Authenticator struct {
	g      *guard.Guard
	errors *connect.ErrorWriter
}

// New returns the connect-go adapter of g.
func New(g *guard.Guard) *Authenticator {
	return &Authenticator{g: g, errors: connect.NewErrorWriter()}
}

// Protect is protect.New for a connect-go service: the Authenticator of a
// Guard that verifies the tokens of the authd behind authdConn, polls its
// revocations until ctx ends, and, unless cfg.Guard.Cookies names others,
// also accepts the access cookie of a browser session with authd's cookie
// names (guard.DefaultCookies) under the CSRF rule. A service that must
// never read cookies builds its Guard with protect.New and calls New.
func Protect(ctx context.Context, authdConn grpc.ClientConnInterface, cfg protect.Config) (*Authenticator, error) {
	if cfg.Guard.Cookies == nil {
		cfg.Guard.Cookies = guard.DefaultCookies()
	}
	g, err := protect.New(ctx, authdConn, cfg)
	if err != nil {
		return nil, err
	}
	return New(g), nil
}

// Interceptor enforces the Guard's decision on the calls a handler serves,
// unary and streaming, as package interceptors does for grpc-go: the
// handler runs with the claims in its context (guard.ClaimsFromContext); a
// renewal is sent in the wire.RenewalHeader response header, or as the
// access cookie for a call authenticated by cookie; a stream is policed
// while it is open (guard.Guard.Watch), and once its token expires or its
// session is revoked not one more message is sent or received and it ends
// with the refusal. Refusals are sent as Error makes them. On a client,
// the interceptor lets calls through untouched (ClientInterceptor is the
// client's).
func (a *Authenticator) Interceptor() connect.Interceptor { return interceptor{a} }

type interceptor struct{ a *Authenticator }

func (i interceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Spec().IsClient {
			return next(ctx, req)
		}
		ctx, d, nonce, err := i.a.decide(ctx, req.Spec().Procedure, req.Header())
		if err != nil {
			return nil, err
		}
		key, value := i.a.renewal(ctx, d)
		resp, err := next(ctx, req)
		if nonce != "" && err == nil && resp != nil {
			resp.Header().Set(wire.DPoPNonceHeader, nonce)
		}
		if key == "" {
			return resp, err
		}
		var cerr *connect.Error
		switch {
		case err != nil && errors.As(err, &cerr):
			// A refusal by the handler keeps the renewal too, as a gRPC
			// header sent before it would; on a copy, since the handler
			// may return one error to every caller.
			cerr = withMeta(cerr)
			cerr.Meta().Add(key, value)
			return nil, cerr
		case err == nil && resp != nil:
			resp.Header().Add(key, value)
		}
		return resp, err
	}
}

// withMeta is a copy of e, with its code, message, details and metadata,
// that errors.Is and errors.As still match to e.
func withMeta(e *connect.Error) *connect.Error {
	c := connect.NewError(e.Code(), messageOf{e})
	for _, d := range e.Details() {
		c.AddDetail(d)
	}
	if !connect.IsWireError(e) { // connect sends no metadata of those
		for k, vs := range e.Meta() {
			c.Meta()[k] = append([]string(nil), vs...)
		}
	}
	return c
}

// messageOf is e's message, wrapping e.
type messageOf struct{ e *connect.Error }

func (m messageOf) Error() string { return m.e.Message() }
func (m messageOf) Unwrap() error { return m.e }

func (i interceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (i interceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		a := i.a
		ctx, d, nonce, err := a.decide(ctx, conn.Spec().Procedure, conn.RequestHeader())
		if err != nil {
			return err
		}
		if nonce != "" {
			conn.ResponseHeader().Set(wire.DPoPNonceHeader, nonce)
		}
		if key, value := a.renewal(ctx, d); key != "" {
			conn.ResponseHeader().Add(key, value)
		}
		if d.Claims == nil {
			return next(ctx, conn)
		}
		ctx, stop := a.g.Watch(ctx, d)
		defer stop()
		err = next(ctx, &guardedConn{StreamingHandlerConn: conn, ctx: ctx, g: a.g, d: d})
		if refusal := a.g.Ended(ctx, d); refusal != nil {
			return Error(refusal)
		}
		return err
	}
}

// guardedConn refuses to send or receive once its call has ended
// (guard.Guard.Ended).
type guardedConn struct {
	connect.StreamingHandlerConn
	ctx context.Context
	g   *guard.Guard
	d   guard.Decision
}

func (c *guardedConn) Send(m any) error {
	if err := c.g.Ended(c.ctx, c.d); err != nil {
		return Error(err)
	}
	return c.StreamingHandlerConn.Send(m)
}

func (c *guardedConn) Receive(m any) error {
	if err := c.g.Ended(c.ctx, c.d); err != nil {
		return Error(err)
	}
	return c.StreamingHandlerConn.Receive(m)
}

// decide asks the Guard about the call to procedure with header, and
// returns the handler's context, with the claims, and a DPoP nonce to send
// back ("" for none), or the refusal as a *connect.Error: a
// DPOP_NONCE_REQUIRED one with the nonce in its wire.DPoPNonceHeader
// metadata, which connect sends as a response header.
func (a *Authenticator) decide(ctx context.Context, procedure string, header http.Header) (context.Context, guard.Decision, string, error) {
	c := call(procedure, header)
	c.PeerCertificate, _ = ctx.Value(peerKey{}).(*x509.Certificate)
	if t, ok := ctx.Value(targetKey{}).(target); ok {
		c.Scheme, c.Authority = t.scheme, t.authority
	}
	d, err := a.g.Decide(ctx, c)
	if err != nil {
		cerr := Error(err)
		if nonce, ok := dpop.NonceOf(err); ok {
			cerr.Meta().Set(wire.DPoPNonceHeader, nonce)
		}
		return nil, d, "", cerr
	}
	var nonce string
	if len(c.DPoP) > 0 {
		nonce = a.g.DPoPNonce()
	}
	if d.Claims == nil {
		return ctx, d, nonce, nil
	}
	return guard.ContextWithDecision(ctx, d), d, nonce, nil
}

// renewal is the response header that hands back a renewal of d's token:
// wire.RenewalHeader, or for a browser session a Set-Cookie, never a
// header its page's scripts could read. "" when there is none.
func (a *Authenticator) renewal(ctx context.Context, d guard.Decision) (key, value string) {
	if d.Claims == nil {
		return "", ""
	}
	tok := a.g.Renewal(ctx, d)
	switch {
	case tok == "":
		return "", ""
	case d.FromCookie():
		if c := a.g.RenewalCookie(ctx, tok); c != nil {
			return wire.SetCookieKey, c.String()
		}
		return "", ""
	}
	return wire.RenewalHeader, tok
}

// call is what a request presents to the Guard: its procedure, its
// authorization and dpop headers and, without an authorization header, its
// cookies and CSRF header.
func call(procedure string, header http.Header) guard.Call {
	c := guard.Call{Method: procedure, Authorization: header.Values(wire.AuthorizationKey), DPoP: header.Values(wire.DPoPKey)}
	if len(c.Authorization) == 0 {
		c.Cookie = header.Values(wire.CookieKey)
		if len(c.Cookie) > 0 {
			c.CSRFToken = header.Values(wire.CSRFHeader)
		}
	}
	return c
}

// peerKey carries a request's client certificate from Middleware to the
// interceptor: connect.Peer has no TLS state.
type peerKey struct{}

// targetKey carries the scheme and authority a request was sent to from
// Middleware to the interceptor (the htu of its DPoP proof): connect's
// requests do not have them.
type targetKey struct{}

type target struct{ scheme, authority string }

// Middleware wraps the http.Handler of connect-go handlers (what
// NewXxxServiceHandler returns) behind the Interceptor:
//
//   - as a call's headers arrive, before a byte of its body is read, it
//     refuses a call to a procedure that needs a token when it carries
//     none, several, or one not even shaped like a token (TOKEN_MISSING,
//     TOKEN_INVALID), or a cookie without the CSRF header
//     (CSRF_TOKEN_INVALID), in the protocol of the call (Connect, gRPC or
//     gRPC-Web), as the Interceptor would (guard.Guard.Precheck; no
//     signature is checked, and the Interceptor still decides every call
//     it lets through);
//   - over mutual TLS, it hands the client's certificate to the
//     Interceptor, so that a token bound to it (cnf x5t#S256) is accepted;
//   - it hands the request's Host and scheme (https over TLS) to the
//     Interceptor, the htu a DPoP proof names, so that a token bound to a
//     key (cnf.jkt) is accepted with its proof.
//
// Without Middleware no certificate is seen and no authority known, and
// bound tokens are refused (unless guard.Config.PublicAuthority names the
// authority). A DPoP call's proof is checked for its shape here too.
//
// Requests in no RPC protocol pass through untouched; connect's handlers
// refuse them. The procedure is the request's path, so Middleware goes
// where the paths are the handlers' own: under http.StripPrefix, inside it.
func (a *Authenticator) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.errors.IsSupported(r) {
			next.ServeHTTP(w, r)
			return
		}
		if err := a.g.Precheck(call(r.URL.Path, r.Header)); err != nil {
			_ = a.errors.Write(w, r, Error(err)) // the caller is gone: nobody to tell
			return
		}
		ctx := r.Context()
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			ctx = context.WithValue(ctx, peerKey{}, r.TLS.PeerCertificates[0])
		}
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, targetKey{}, target{scheme: scheme, authority: r.Host})))
	})
}

// CheckProcedures runs guard.Guard.CheckMethods on procedures, the full
// names of the procedures served ("/pkg.Service/Method", the
// XxxProcedure constants of connect's generated code): it names each
// whose requirement would fall to the default, each contradictory rule
// and each Go rule naming nothing served. Call it before serving, and
// refuse to start when it fails.
func (a *Authenticator) CheckProcedures(procedures ...string) error {
	return a.g.CheckMethods(procedures)
}

// CheckServices is CheckProcedures for every method of services, each
// named as connect's generated code does: the path NewXxxServiceHandler
// returns ("/pkg.Service/") or the XxxServiceName constant
// ("pkg.Service"). Their methods are read from protoregistry.GlobalFiles,
// where the generated code registers them; a service not found there is
// an error.
func (a *Authenticator) CheckServices(services ...string) error {
	var procedures []string
	for _, s := range services {
		name := serviceName(s)
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name))
		if err != nil {
			return fmt.Errorf("connectauth: service %q: %w", s, err)
		}
		sd, ok := d.(protoreflect.ServiceDescriptor)
		if !ok {
			return fmt.Errorf("connectauth: %q is no service", s)
		}
		methods := sd.Methods()
		for i := range methods.Len() {
			procedures = append(procedures, "/"+name+"/"+string(methods.Get(i).Name()))
		}
	}
	return a.CheckProcedures(procedures...)
}

// serviceName is the service's full name, whether spelt as a service name
// or as a handler's path.
func serviceName(s string) string {
	if len(s) > 0 && s[0] == '/' {
		s = s[1:]
	}
	if n := len(s); n > 0 && s[n-1] == '/' {
		s = s[:n-1]
	}
	return s
}
