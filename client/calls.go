package client

import (
	"context"
	"net/http"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/authd-dev/authd/wire"
)

// Context keys: the token chosen for a call by the interceptors, and the
// mark on the client's own calls to authd (Login, Refresh, Logout), which
// carry their own authorization or none.
type (
	tokenKey    struct{}
	internalKey struct{}
)

func withToken(ctx context.Context, tok string) context.Context {
	return context.WithValue(ctx, tokenKey{}, tok)
}

func internal(ctx context.Context) context.Context {
	return context.WithValue(ctx, internalKey{}, true)
}

func isInternal(ctx context.Context) bool {
	v, _ := ctx.Value(internalKey{}).(bool)
	return v
}

func withBearer(ctx context.Context, tok string) context.Context {
	return metadata.NewOutgoingContext(ctx, metadata.Pairs("authorization", "Bearer "+tok))
}

// PerRPCCredentials returns credentials that attach the current access
// token: `authorization: Bearer <token>`, or, for a token bound to the
// client's DPoP key, `authorization: DPoP <token>` with a proof for the
// call in `dpop`. With the Client's interceptors they send the token the
// interceptor chose; alone, they refresh proactively but cannot retry. A
// call that sets its own authorization metadata keeps it.
func (c *Client) PerRPCCredentials() credentials.PerRPCCredentials { return perRPC{c} }

type perRPC struct{ c *Client }

func (p perRPC) GetRequestMetadata(ctx context.Context, uri ...string) (map[string]string, error) {
	if isInternal(ctx) {
		return nil, nil
	}
	if md, ok := metadata.FromOutgoingContext(ctx); ok && len(md.Get("authorization")) > 0 {
		return nil, nil
	}
	tok, ok := ctx.Value(tokenKey{}).(string)
	if !ok {
		var err error
		if tok, err = p.c.Token(ctx); err != nil {
			return nil, err
		}
	}
	if tok == "" {
		return nil, nil
	}
	if !p.c.bound(tok) {
		return map[string]string{wire.AuthorizationKey: "Bearer " + tok}, nil
	}
	scheme, authority, method, err := requestTarget(ctx, uri)
	if err != nil {
		return nil, err
	}
	return p.c.prover.present(scheme, authority, method, tok, true)
}

// RequireTransportSecurity is true unless the Client was built with
// Config.Insecure.
func (p perRPC) RequireTransportSecurity() bool { return !p.c.cfg.Insecure }

// UnaryClientInterceptor attaches the token, picks up renewals, on
// TOKEN_EXPIRED refreshes and retries the call once, and on
// DPOP_NONCE_REQUIRED retries it once with a proof carrying the server's
// nonce (kept for the next calls to the same authority).
func (c *Client) UnaryClientInterceptor() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if isInternal(ctx) {
			return invoker(ctx, method, req, reply, cc, opts...)
		}
		tok, err := c.Token(ctx)
		if err != nil {
			return err
		}
		ctx, tgt := withTarget(ctx)
		nonced := false
		var invoke func(tok string) error
		invoke = func(tok string) error {
			var header, trailer metadata.MD
			err := invoker(withToken(ctx, tok), method, req, reply, cc, append(opts, grpc.Header(&header), grpc.Trailer(&trailer))...)
			c.adopt(ctx, header)
			if c.prover.adoptNonce(tgt.get(), err, header, trailer) && !nonced {
				nonced = true
				return invoke(tok) // once: a second DPOP_NONCE_REQUIRED is returned as is
			}
			return err
		}
		err = invoke(tok)
		if err == nil {
			return nil
		}
		retry, err := c.afterCall(ctx, tok, err)
		if retry == "" {
			return err
		}
		return invoke(retry) // once: a second TOKEN_EXPIRED is returned as is
	}
}

// maxReplay bounds the messages a stream keeps to replay when it is
// re-opened; a stream that sent more before its first reply is not retried.
const maxReplay = 64

// StreamClientInterceptor attaches the token, picks up renewals, and
// re-opens a stream once before its first message arrives: with a
// refreshed token when it fails with TOKEN_EXPIRED, or with a proof
// carrying the server's nonce on DPOP_NONCE_REQUIRED. The messages sent so
// far are sent again.
func (c *Client) StreamClientInterceptor() grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		if isInternal(ctx) {
			return streamer(ctx, desc, cc, method, opts...)
		}
		tok, err := c.Token(ctx)
		if err != nil {
			return nil, err
		}
		ctx, tgt := withTarget(ctx)
		s := &stream{c: c, p: c.prover, ctx: ctx, target: tgt, open: func(tok string) (grpc.ClientStream, error) {
			return streamer(withToken(ctx, tok), desc, cc, method, opts...)
		}}
		cs, err := s.open(tok)
		if err != nil {
			retry, err := c.afterCall(ctx, tok, err)
			if c.prover.adoptNonce(tgt.get(), err) {
				retry = tok
			}
			if retry == "" {
				return nil, err
			}
			s.retried = true
			if cs, err = s.open(retry); err != nil {
				return nil, err
			}
			tok = retry
		}
		s.cs, s.tok = cs, tok
		return s, nil
	}
}

// stream is a client stream that can be re-opened once before its first
// reply.
type stream struct {
	c      *Client // nil for Credentials, which only retry for a nonce
	p      *prover
	ctx    context.Context
	target *target
	open   func(tok string) (grpc.ClientStream, error)

	mu       sync.Mutex
	cs       grpc.ClientStream
	tok      string
	sent     []any // replayable messages, until the first reply
	closed   bool  // CloseSend was called
	received bool
	retried  bool
	noReplay bool // too many messages to replay
	adopted  bool
}

func (s *stream) current() grpc.ClientStream {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cs
}

func (s *stream) Header() (metadata.MD, error) { return s.current().Header() }
func (s *stream) Trailer() metadata.MD         { return s.current().Trailer() }
func (s *stream) Context() context.Context     { return s.current().Context() }

func (s *stream) CloseSend() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return s.cs.CloseSend()
}

func (s *stream) SendMsg(m any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.received && !s.retried && !s.noReplay {
		if msg, ok := m.(proto.Message); ok && len(s.sent) < maxReplay {
			s.sent = append(s.sent, proto.Clone(msg))
		} else {
			s.noReplay, s.sent = true, nil
		}
	}
	return s.cs.SendMsg(m)
}

func (s *stream) RecvMsg(m any) error {
	cs := s.current()
	err := cs.RecvMsg(m)
	s.adopt(cs)
	if err == nil {
		s.mu.Lock()
		s.received, s.sent = true, nil
		s.mu.Unlock()
		return nil
	}
	s.mu.Lock()
	canRetry := !s.received && !s.retried && !s.noReplay
	s.retried = true
	tok := s.tok
	s.mu.Unlock()
	// Past the first reply, or once retried, the refreshed token (if any)
	// serves the next call, not this stream; so does the nonce.
	retry, again := "", false
	if s.c != nil {
		retry, err = s.c.afterCall(s.ctx, tok, err)
		again = retry != ""
	}
	if s.p.adoptNonce(s.target.get(), err, cs.Trailer()) {
		retry, again = tok, true
	}
	if !again || !canRetry {
		return err
	}
	if err := s.reopen(retry); err != nil {
		return err
	}
	return s.RecvMsg(m) // retried is set: this recursion happens once
}

// reopen opens the stream again with tok and replays what was sent.
func (s *stream) reopen(tok string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, err := s.open(tok)
	if err != nil {
		return err
	}
	s.cs, s.tok, s.adopted = cs, tok, false
	for _, m := range s.sent {
		if err := cs.SendMsg(m); err != nil {
			return err
		}
	}
	s.sent = nil
	if s.closed {
		return cs.CloseSend()
	}
	return nil
}

// adopt picks up a renewal from the stream's header once its first RecvMsg
// has returned (the header has arrived, or the stream has failed).
func (s *stream) adopt(cs grpc.ClientStream) {
	s.mu.Lock()
	done := s.adopted
	s.adopted = true
	s.mu.Unlock()
	if done {
		return
	}
	if header, err := cs.Header(); err == nil {
		if s.c != nil {
			s.c.adopt(s.ctx, header)
		}
		s.p.adoptNonce(s.target.get(), nil, header)
	}
}

// AdoptRenewal and AfterCall are what the Client's own interceptors do
// after a call, for the adapters of other transports (package connectauth
// for connect-go clients), which attach the token of Token themselves.

// AdoptRenewal adopts the renewed access token of a service's response
// header (wire.RenewalHeader), as the interceptors do: only one value,
// signed by authd, of the same user and session, living longer.
func (c *Client) AdoptRenewal(ctx context.Context, header http.Header) {
	c.adopt(ctx, metadata.MD{wire.RenewalHeader: header.Values(wire.RenewalHeader)})
}

// AfterCall reacts to err, the error of a call made with the access token
// used, read as a gRPC status (status.FromError): on TOKEN_EXPIRED it
// refreshes and returns the token to retry the call with, once; on the
// errors only a login cures it calls Config.OnLoginRequired, on
// STEP_UP_REQUIRED Config.OnStepUpRequired. retry is ""
// when the call must not be retried, and the error is then err or the
// refresh's failure.
func (c *Client) AfterCall(ctx context.Context, used string, err error) (retry string, _ error) {
	return c.afterCall(ctx, used, err)
}

// Authorize and AdoptNonce are the DPoP half of what the credentials and
// interceptors do, for the same adapters.

// Authorize returns the headers that present the access token tok on a
// call of procedure ("/pkg.Service/Method") to scheme://authority ("https"
// or "http", and the host[:port] the server sees): authorization "Bearer
// <tok>", or, for a token bound to the client's DPoP key, "DPoP <tok>"
// and dpop, a proof for this one call carrying the last nonce the
// authority sent (AdoptNonce). Call it again for a retry: a proof is
// accepted once.
func (c *Client) Authorize(tok, scheme, authority, procedure string) (http.Header, error) {
	if tok == "" {
		return http.Header{}, nil
	}
	md, err := c.prover.present(scheme, authority, procedure, tok, c.bound(tok))
	if err != nil {
		return nil, err
	}
	h := make(http.Header, len(md))
	for k, v := range md {
		h.Set(k, v)
	}
	return h, nil
}

// AdoptNonce keeps the DPoP nonce the server at authority sent, in err (a
// DPOP_NONCE_REQUIRED refusal, read as a gRPC status) or in its dpop-nonce
// response header, for the proofs of the next calls to it. It reports
// whether err asks for the call to be made once more, with the headers of
// a new Authorize.
func (c *Client) AdoptNonce(authority string, header http.Header, err error) (retry bool) {
	return c.prover.adoptNonce(authority, err, metadata.MD{wire.DPoPNonceHeader: header.Values(wire.DPoPNonceHeader)})
}
