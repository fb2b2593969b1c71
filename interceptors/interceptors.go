package interceptors

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/tap"

	"github.com/authd-dev/authd/dpop"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/wire"
)

// Authenticator applies a guard.Guard to the calls of a grpc-go server. It
// is safe for concurrent use.
type Authenticator struct {
	g *guard.Guard
}

// New returns the grpc-go adapter of g.
func New(g *guard.Guard) *Authenticator { return &Authenticator{g: g} }

// UnaryServerInterceptor enforces the Guard's decision on unary calls: the
// handler runs with the claims in its context (guard.ClaimsFromContext),
// and a renewal is sent in the wire.RenewalHeader response header.
func (a *Authenticator) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, _, err := a.decide(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// StreamServerInterceptor enforces the Guard's decision when a stream
// opens, and polices it while it is open (guard.Guard.Watch): once its
// token expires or its session is revoked, not one more message is sent or
// received, and the stream ends with the refusal.
func (a *Authenticator) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, d, err := a.decide(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		if d.Claims == nil {
			return handler(srv, &wrappedStream{ServerStream: ss, ctx: ctx})
		}
		ctx, stop := a.g.Watch(ctx, d)
		defer stop()
		err = handler(srv, &guardedStream{wrappedStream: wrappedStream{ServerStream: ss, ctx: ctx}, g: a.g, d: d})
		if refusal := a.g.Ended(ctx, d); refusal != nil {
			return wire.StatusError(refusal)
		}
		return err
	}
}

// AuthFunc authenticates the call in ctx as the interceptors do, returning
// ctx with the claims. It has the shape of go-grpc-middleware's
// auth.AuthFunc, so it also plugs into auth.UnaryServerInterceptor behind a
// selector.
func (a *Authenticator) AuthFunc(ctx context.Context) (context.Context, error) {
	method, ok := grpc.Method(ctx)
	if !ok {
		return nil, wire.StatusError(fmt.Errorf("%w: no method in context", guard.ErrMissing))
	}
	ctx, _, err := a.decide(ctx, method)
	return ctx, err
}

func (a *Authenticator) decide(ctx context.Context, method string) (context.Context, guard.Decision, error) {
	call := Call(ctx, method)
	d, err := a.g.Decide(ctx, call)
	if err != nil {
		// DPOP_NONCE_REQUIRED: the nonce to sign into the next proof, in
		// a header, which reaches the client with the refusal.
		if nonce, ok := dpop.NonceOf(err); ok {
			_ = grpc.SetHeader(ctx, metadata.Pairs(wire.DPoPNonceHeader, nonce))
		}
		return nil, d, wire.StatusError(err)
	}
	if len(call.DPoP) > 0 {
		if nonce := a.g.DPoPNonce(); nonce != "" {
			_ = grpc.SetHeader(ctx, metadata.Pairs(wire.DPoPNonceHeader, nonce))
		}
	}
	if d.Claims == nil {
		return ctx, d, nil
	}
	if tok := a.g.Renewal(ctx, d); tok != "" {
		// Fails only after the headers went out: nobody to tell. A
		// browser session's renewal is a cookie, never a header its
		// page's scripts could read.
		if d.FromCookie() {
			if c := a.g.RenewalCookie(ctx, tok); c != nil {
				_ = grpc.SetHeader(ctx, metadata.Pairs(wire.SetCookieKey, c.String()))
			}
		} else {
			_ = grpc.SetHeader(ctx, metadata.Pairs(wire.RenewalHeader, tok))
		}
	}
	return guard.ContextWithDecision(ctx, d), d, nil
}

// Call is what the incoming gRPC call in ctx presents to a Guard: method,
// its authorization metadata, its DPoP proof with the :authority and the
// scheme (https over TLS) its htu names, its cookie and CSRF metadata (a
// browser's call through a gRPC-Web or Connect bridge) and, over mutual
// TLS, the client's certificate.
func Call(ctx context.Context, method string) guard.Call {
	// The keys, not a copy of all the metadata (FromIncomingContext
	// copies the map on every call).
	c := guard.Call{Method: method, Authorization: metadata.ValueFromIncomingContext(ctx, wire.AuthorizationKey),
		DPoP: metadata.ValueFromIncomingContext(ctx, wire.DPoPKey), Scheme: "http"}
	if a := metadata.ValueFromIncomingContext(ctx, ":authority"); len(a) == 1 {
		c.Authority = a[0]
	}
	if len(c.Authorization) == 0 {
		c.Cookie = metadata.ValueFromIncomingContext(ctx, wire.CookieKey)
		if len(c.Cookie) > 0 {
			c.CSRFToken = metadata.ValueFromIncomingContext(ctx, wire.CSRFHeader)
		}
	}
	if p, ok := peer.FromContext(ctx); ok {
		if info, ok := p.AuthInfo.(credentials.TLSInfo); ok {
			c.Scheme = "https"
			if len(info.State.PeerCertificates) > 0 {
				c.PeerCertificate = info.State.PeerCertificates[0]
			}
		}
	}
	return c
}

// ServiceInfoProvider is what *grpc.Server offers to list its services.
type ServiceInfoProvider interface {
	GetServiceInfo() map[string]grpc.ServiceInfo
}

// CheckServer runs guard.Guard.CheckMethods on every method registered on
// srv: it names each method whose requirement would fall to the default,
// each contradictory rule and each Go rule naming nothing registered. Call
// it after registering every service and before Serve, and refuse to start
// when it fails.
func (a *Authenticator) CheckServer(srv ServiceInfoProvider) error {
	var methods []string
	for service, info := range srv.GetServiceInfo() {
		for _, m := range info.Methods {
			methods = append(methods, "/"+service+"/"+m.Name)
		}
	}
	return a.g.CheckMethods(methods)
}

// wrappedStream gives a stream the authenticated context.
type wrappedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (w *wrappedStream) Context() context.Context { return w.ctx }

// guardedStream refuses to send or receive once its call has ended
// (guard.Guard.Ended).
type guardedStream struct {
	wrappedStream
	g *guard.Guard
	d guard.Decision
}

func (s *guardedStream) SendMsg(m any) error {
	if err := s.g.Ended(s.ctx, s.d); err != nil {
		return wire.StatusError(err)
	}
	return s.ServerStream.SendMsg(m)
}

func (s *guardedStream) RecvMsg(m any) error {
	if err := s.g.Ended(s.ctx, s.d); err != nil {
		return wire.StatusError(err)
	}
	return s.ServerStream.RecvMsg(m)
}

// TapHandle is g's Precheck as grpc-go's tap.ServerInHandle, to install
// with grpc.InTapHandle: it runs as a call's headers arrive, before its
// stream is created or a byte of its body is read, and refuses a call to a
// method that needs a token when it carries none, several, or one that is
// not even shaped like a token, or, as "DPoP <token>", no proof, several,
// or one not shaped like one, with the status the interceptors would
// send (TOKEN_MISSING, TOKEN_INVALID, DPOP_PROOF_REQUIRED,
// DPOP_PROOF_INVALID). No signature is checked there: the
// interceptors still decide every call it lets through. grpc-go takes one
// tap handle per server; protect.ServerOptions installs this one.
func TapHandle(g *guard.Guard) tap.ServerInHandle {
	return func(ctx context.Context, info *tap.Info) (context.Context, error) {
		call := guard.Call{Method: info.FullMethodName, Authorization: info.Header.Get(wire.AuthorizationKey),
			DPoP: info.Header.Get(wire.DPoPKey), Cookie: info.Header.Get(wire.CookieKey), CSRFToken: info.Header.Get(wire.CSRFHeader)}
		if err := g.Precheck(call); err != nil {
			return ctx, wire.StatusError(err)
		}
		return ctx, nil
	}
}
