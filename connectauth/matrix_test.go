package connectauth_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/authd-dev/authd/connectauth"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/internal/authzmatrix"
	"github.com/authd-dev/authd/wire"
)

// connectTransport serves authzmatrix's methods as connect-go handlers
// behind the Authenticator's Middleware and Interceptor, over HTTP/2 on
// loopback, and calls them with a connect client in one protocol.
// Without Middleware, the Interceptor makes every refusal itself.
type connectTransport struct {
	protocol     connect.ClientOption
	noMiddleware bool
}

func (tr connectTransport) Serve(t *testing.T, g *guard.Guard, methods []authzmatrix.Method, h authzmatrix.Handler) authzmatrix.Server {
	authn := connectauth.New(g)
	opt := connect.WithInterceptors(authn.Interceptor())
	mux := http.NewServeMux()
	var procedures []string
	for _, m := range methods {
		procedures = append(procedures, m.Name)
		if m.Stream {
			mux.Handle(m.Name, connect.NewServerStreamHandler(m.Name,
				func(ctx context.Context, _ *connect.Request[emptypb.Empty], stream *connect.ServerStream[structpb.Struct]) error {
					reply, err := h(ctx)
					if err != nil {
						return err
					}
					return stream.Send(reply)
				}, opt))
			continue
		}
		mux.Handle(m.Name, connect.NewUnaryHandler(m.Name,
			func(ctx context.Context, _ *connect.Request[emptypb.Empty]) (*connect.Response[structpb.Struct], error) {
				reply, err := h(ctx)
				if err != nil {
					return nil, err
				}
				return connect.NewResponse(reply), nil
			}, opt))
	}
	var handler http.Handler = mux
	if !tr.noMiddleware {
		handler = authn.Middleware(mux)
	}
	srv := serve(t, handler, nil)
	return connectServer{url: srv.URL, client: srv.Client(), protocol: tr.protocol,
		check: func() error { return authn.CheckProcedures(procedures...) }}
}

type connectServer struct {
	url      string
	client   *http.Client
	protocol connect.ClientOption
	check    func() error
}

func (s connectServer) Check() error { return s.check() }

func (s connectServer) Call(ctx context.Context, m authzmatrix.Method, authorization []string) (*structpb.Struct, error) {
	out, err := s.call(ctx, m, authorization)
	return out, connectauth.StatusOf(err)
}

func (s connectServer) call(ctx context.Context, m authzmatrix.Method, authorization []string) (*structpb.Struct, error) {
	client := connect.NewClient[emptypb.Empty, structpb.Struct](s.client, s.url+m.Name, s.protocol)
	req := connect.NewRequest(&emptypb.Empty{})
	for _, v := range authorization {
		req.Header().Add(wire.AuthorizationKey, v)
	}
	if !m.Stream {
		resp, err := client.CallUnary(ctx, req)
		if err != nil {
			return nil, err
		}
		return resp.Msg, nil
	}
	stream, err := client.CallServerStream(ctx, req)
	if err != nil {
		return nil, err
	}
	defer stream.Close()
	if !stream.Receive() {
		if err := stream.Err(); err != nil {
			return nil, err
		}
		return nil, errors.New("the stream ended without a message")
	}
	return stream.Msg(), nil
}

// The requirements and authorization matrices of every adapter, through
// connect-go's, in each protocol, and without Middleware.
func TestMatrix(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			authzmatrix.Run(t, connectTransport{protocol: p.opt})
		})
	}
	t.Run("grpc/interceptor-only", func(t *testing.T) {
		authzmatrix.Run(t, connectTransport{protocol: connect.WithGRPC(), noMiddleware: true})
	})
}
