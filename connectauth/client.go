package connectauth

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"

	"connectrpc.com/connect"

	"github.com/authd-dev/authd/client"
	"github.com/authd-dev/authd/wire"
)

// ClientInterceptor makes the calls of connect-go clients authenticate as
// c, as c's interceptors do for grpc-go: it attaches `authorization:
// Bearer <access token>` (c.Token, refreshed when due) — or, for a token
// bound to c's DPoP key (client.Config.DPoP), `authorization: DPoP
// <access token>` and a proof for the call in `dpop` (client.Client.Authorize)
// —, adopts the renewal a service answers with in wire.RenewalHeader
// (client.Client.AdoptRenewal), and on TOKEN_EXPIRED refreshes and retries
// a unary call once (client.Client.AfterCall), calling
// client.Config.OnLoginRequired when only a login helps and
// client.Config.OnStepUpRequired on STEP_UP_REQUIRED (which it neither
// refreshes for nor retries). On DPOP_NONCE_REQUIRED a unary call is
// retried once with a proof carrying the service's nonce, which is kept
// for the next calls (client.Client.AdoptNonce). A stream is not retried.
// A call that sets its own authorization header keeps it.
// Install it on the clients of services, not on the client c logs in
// through.
//
// A proof signs the call's URL: its authority is the host of the client's
// base URL, and its scheme "https" unless WithScheme says otherwise (a
// connect interceptor does not see the URL's scheme).
func ClientInterceptor(c *client.Client, opts ...ClientOption) connect.Interceptor {
	i := clientInterceptor{c: c, scheme: "https"}
	for _, o := range opts {
		o(&i)
	}
	return i
}

// A ClientOption configures ClientInterceptor.
type ClientOption func(*clientInterceptor)

// WithScheme is the scheme of the services' base URLs, for the htu of DPoP
// proofs: "https" (the default) or "http" (h2c or HTTP/1.1 without TLS, on
// loopback).
func WithScheme(scheme string) ClientOption {
	return func(i *clientInterceptor) { i.scheme = scheme }
}

type clientInterceptor struct {
	c      *client.Client
	scheme string
}

func (i clientInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if !req.Spec().IsClient || req.Header().Get(wire.AuthorizationKey) != "" {
			return next(ctx, req)
		}
		tok, err := i.c.Token(ctx)
		if err != nil {
			return nil, Error(err)
		}
		authority, nonced := req.Peer().Addr, false
		var invoke func(tok string) (connect.AnyResponse, error)
		invoke = func(tok string) (connect.AnyResponse, error) {
			if err := i.authorize(req.Header(), tok, authority, req.Spec().Procedure); err != nil {
				return nil, err
			}
			resp, err := next(ctx, req)
			i.adopt(ctx, resp, err)
			if i.adoptNonce(authority, resp, err) && !nonced {
				nonced = true
				return invoke(tok) // once: a second DPOP_NONCE_REQUIRED is returned as is
			}
			return resp, err
		}
		resp, err := invoke(tok)
		if err == nil {
			return resp, nil
		}
		retry, aerr := i.c.AfterCall(ctx, tok, asStatus(err))
		if retry == "" {
			return nil, original(aerr)
		}
		return invoke(retry) // once: a second TOKEN_EXPIRED is returned as is
	}
}

// authorize sets the headers presenting tok (none for "") on a call of
// procedure, with a new DPoP proof for a bound token.
func (i clientInterceptor) authorize(header http.Header, tok, authority, procedure string) error {
	h, err := i.c.Authorize(tok, i.scheme, authority, procedure)
	if err != nil {
		return Error(err)
	}
	header.Del(wire.AuthorizationKey)
	header.Del(wire.DPoPKey)
	for k, v := range h {
		header[k] = v
	}
	return nil
}

// adoptNonce keeps the DPoP nonce of a unary call's response or error, and
// reports whether the error asks for a retry with it.
func (i clientInterceptor) adoptNonce(authority string, resp connect.AnyResponse, err error) bool {
	var cerr *connect.Error
	switch {
	case err == nil && resp != nil:
		return i.c.AdoptNonce(authority, resp.Header(), nil)
	case errors.As(err, &cerr):
		return i.c.AdoptNonce(authority, cerr.Meta(), asStatus(err))
	}
	return false
}

// adopt adopts the renewal of a unary call's response, or of its error's
// metadata.
func (i clientInterceptor) adopt(ctx context.Context, resp connect.AnyResponse, err error) {
	var cerr *connect.Error
	switch {
	case err == nil && resp != nil:
		i.c.AdoptRenewal(ctx, resp.Header())
	case errors.As(err, &cerr):
		i.c.AdoptRenewal(ctx, cerr.Meta())
	}
}

// original is the error AfterCall returned as a connect error: the call's
// own, or the failure of the refresh it tried.
func original(err error) error {
	var s grpcStatus
	if errors.As(err, &s) {
		return s.err
	}
	return Error(err)
}

func (i clientInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		return &clientConn{StreamingClientConn: next(ctx, spec), i: i, ctx: ctx}
	}
}

func (i clientInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// clientConn attaches the token to a stream's request header before it
// is sent (the caller's own headers are merged in after the stream is
// created, so the first Send, CloseRequest or Receive is the time), and
// adopts a renewal from its response header once the first Receive has
// returned.
type clientConn struct {
	connect.StreamingClientConn
	i   clientInterceptor
	ctx context.Context

	attach  sync.Once
	tok     string
	err     error // of c.Token
	adopted sync.Once
}

func (s *clientConn) attached() error {
	s.attach.Do(func() {
		if s.RequestHeader().Get(wire.AuthorizationKey) != "" {
			return
		}
		if s.tok, s.err = s.i.c.Token(s.ctx); s.err != nil {
			s.err = Error(s.err)
			return
		}
		s.err = s.i.authorize(s.RequestHeader(), s.tok, s.Peer().Addr, s.Spec().Procedure)
	})
	return s.err
}

func (s *clientConn) Send(m any) error {
	if err := s.attached(); err != nil {
		return err
	}
	return s.StreamingClientConn.Send(m)
}

func (s *clientConn) CloseRequest() error {
	if err := s.attached(); err != nil {
		return err
	}
	return s.StreamingClientConn.CloseRequest()
}

func (s *clientConn) Receive(m any) error {
	if err := s.attached(); err != nil {
		return err
	}
	err := s.StreamingClientConn.Receive(m)
	s.adopted.Do(func() {
		header := s.ResponseHeader()
		var cerr *connect.Error
		if header.Get(wire.RenewalHeader) == "" && errors.As(err, &cerr) {
			header = cerr.Meta()
		}
		s.i.c.AdoptRenewal(s.ctx, header)
		s.i.c.AdoptNonce(s.Peer().Addr, header, nil)
	})
	if err != nil && !errors.Is(err, io.EOF) {
		// A refreshed token, or a nonce, serves the next call; the
		// failure is the stream's own.
		var cerr *connect.Error
		if errors.As(err, &cerr) {
			s.i.c.AdoptNonce(s.Peer().Addr, cerr.Meta(), asStatus(err))
		}
		_, _ = s.i.c.AfterCall(s.ctx, s.tok, asStatus(err))
	}
	return err
}
