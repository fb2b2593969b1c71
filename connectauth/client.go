package connectauth

import (
	"context"
	"errors"
	"io"
	"sync"

	"connectrpc.com/connect"

	"github.com/authd-dev/authd/client"
	"github.com/authd-dev/authd/wire"
)

// ClientInterceptor makes the calls of connect-go clients authenticate as
// c, as c's interceptors do for grpc-go: it attaches `authorization:
// Bearer <access token>` (c.Token, refreshed when due), adopts the
// renewal a service answers with in wire.RenewalHeader
// (client.Client.AdoptRenewal), and on TOKEN_EXPIRED refreshes and retries
// a unary call once (client.Client.AfterCall), calling
// client.Config.OnLoginRequired when only a login helps and
// client.Config.OnStepUpRequired on STEP_UP_REQUIRED (which it neither
// refreshes for nor retries). A stream is not retried. A call that sets its own authorization header keeps it.
// Install it on the clients of services, not on the client c logs in
// through.
func ClientInterceptor(c *client.Client) connect.Interceptor { return clientInterceptor{c} }

type clientInterceptor struct{ c *client.Client }

func (i clientInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if !req.Spec().IsClient || req.Header().Get(wire.AuthorizationKey) != "" {
			return next(ctx, req)
		}
		tok, err := i.c.Token(ctx)
		if err != nil {
			return nil, Error(err)
		}
		invoke := func(tok string) (connect.AnyResponse, error) {
			if tok != "" {
				req.Header().Set(wire.AuthorizationKey, "Bearer "+tok)
			}
			resp, err := next(ctx, req)
			i.adopt(ctx, resp, err)
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
		return &clientConn{StreamingClientConn: next(ctx, spec), c: i.c, ctx: ctx}
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
	c   *client.Client
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
		if s.tok, s.err = s.c.Token(s.ctx); s.err != nil {
			s.err = Error(s.err)
		} else if s.tok != "" {
			s.RequestHeader().Set(wire.AuthorizationKey, "Bearer "+s.tok)
		}
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
		s.c.AdoptRenewal(s.ctx, header)
	})
	if err != nil && !errors.Is(err, io.EOF) {
		// A refreshed token serves the next call; the failure is the
		// stream's own.
		_, _ = s.c.AfterCall(s.ctx, s.tok, asStatus(err))
	}
	return err
}
