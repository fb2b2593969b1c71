package connectauth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/grpc"

	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/clock"
	"github.com/authd-dev/authd/connectauth"
	"github.com/authd-dev/authd/examples/greeter"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
	"github.com/authd-dev/authd/gen/example/v1/examplev1connect"
	"github.com/authd-dev/authd/guard"
)

var bg = context.Background()

// sid is the session of the tokens tests mint.
const sid = "session-1"

// protocols are connect's three, as client options.
var protocols = []struct {
	name string
	opt  connect.ClientOption
}{
	{"connect", connect.WithClientOptions()},
	{"grpc", connect.WithGRPC()},
	{"grpc-web", connect.WithGRPCWeb()},
}

// serve serves h over HTTP/2 and TLS on loopback for as long as t lasts,
// after configure (nil: nothing) has had its say on the server.
func serve(t testing.TB, h http.Handler, configure func(*httptest.Server)) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = true
	if configure != nil {
		configure(srv)
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// newGreeter serves the example greeter over connect behind authn (its
// Middleware and Interceptor), checked with CheckServices.
func newGreeter(t *testing.T, clk clock.Clock, authn *connectauth.Authenticator) *httptest.Server {
	t.Helper()
	path, h := greeterHandler(clk, authn)
	if err := authn.CheckServices(path); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(path, authn.Middleware(h))
	return serve(t, mux, nil)
}

// greeterHandler is the example greeter's connect handler behind authn's
// Interceptor, and its path.
func greeterHandler(clk clock.Clock, authn *connectauth.Authenticator) (string, http.Handler) {
	return examplev1connect.NewGreeterServiceHandler(connectGreeter{&greeter.Greeter{Clock: clk}},
		connect.WithInterceptors(authn.Interceptor()))
}

// greeterClient is a client of the greeter srv serves, in protocol.
func greeterClient(srv *httptest.Server, protocol connect.ClientOption, opts ...connect.ClientOption) examplev1connect.GreeterServiceClient {
	return examplev1connect.NewGreeterServiceClient(srv.Client(), srv.URL, append([]connect.ClientOption{protocol}, opts...)...)
}

// greeterGuard is the Guard of the greeter: cfg on clk with health and
// reflection public.
func greeterGuard(iss *tokens.Issuer, cfg guard.Config) *guard.Guard {
	cfg.PublicHealthAndReflection = true
	if cfg.Clock == nil {
		cfg.Clock = iss.Clock
	}
	return guard.New(iss.Verifier, cfg)
}

// connectGreeter serves the example greeter, a grpc-go service, as a
// connect-go one.
type connectGreeter struct{ g *greeter.Greeter }

func unary[Req, Res any](ctx context.Context, req *connect.Request[Req], f func(context.Context, *Req) (*Res, error)) (*connect.Response[Res], error) {
	res, err := f(ctx, req.Msg)
	if err != nil {
		return nil, connectauth.Error(err)
	}
	return connect.NewResponse(res), nil
}

func (c connectGreeter) Hello(ctx context.Context, req *connect.Request[examplev1.HelloRequest]) (*connect.Response[examplev1.HelloResponse], error) {
	return unary(ctx, req, c.g.Hello)
}

func (c connectGreeter) Greet(ctx context.Context, req *connect.Request[examplev1.GreetRequest]) (*connect.Response[examplev1.GreetResponse], error) {
	return unary(ctx, req, c.g.Greet)
}

func (c connectGreeter) WhoAmI(ctx context.Context, req *connect.Request[examplev1.WhoAmIRequest]) (*connect.Response[examplev1.WhoAmIResponse], error) {
	return unary(ctx, req, c.g.WhoAmI)
}

func (c connectGreeter) DeleteAccount(ctx context.Context, req *connect.Request[examplev1.DeleteAccountRequest]) (*connect.Response[examplev1.DeleteAccountResponse], error) {
	return unary(ctx, req, c.g.DeleteAccount)
}

func (c connectGreeter) SessionInfo(ctx context.Context, req *connect.Request[examplev1.SessionInfoRequest]) (*connect.Response[examplev1.SessionInfoResponse], error) {
	return unary(ctx, req, c.g.SessionInfo)
}

func (c connectGreeter) Admin(ctx context.Context, req *connect.Request[examplev1.AdminRequest]) (*connect.Response[examplev1.AdminResponse], error) {
	return unary(ctx, req, c.g.Admin)
}

func (c connectGreeter) ReadOrders(ctx context.Context, req *connect.Request[examplev1.ReadOrdersRequest]) (*connect.Response[examplev1.ReadOrdersResponse], error) {
	return unary(ctx, req, c.g.ReadOrders)
}

func (c connectGreeter) Transfer(ctx context.Context, req *connect.Request[examplev1.TransferRequest]) (*connect.Response[examplev1.TransferResponse], error) {
	return unary(ctx, req, c.g.Transfer)
}

func (c connectGreeter) Ticks(ctx context.Context, req *connect.Request[examplev1.TicksRequest], stream *connect.ServerStream[examplev1.TicksResponse]) error {
	if err := c.g.Ticks(req.Msg, ticksStream{ctx: ctx, stream: stream}); err != nil {
		return connectauth.Error(err)
	}
	return nil
}

// ticksStream is a connect server stream as the grpc-go one the
// greeter's Ticks sends to; it only sends.
type ticksStream struct {
	grpc.ServerStream
	ctx    context.Context
	stream *connect.ServerStream[examplev1.TicksResponse]
}

func (s ticksStream) Context() context.Context              { return s.ctx }
func (s ticksStream) Send(m *examplev1.TicksResponse) error { return s.stream.Send(m) }
