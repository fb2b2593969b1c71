package interceptors_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/authd-dev/authd/authdtest/tokens"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/interceptors"
	"github.com/authd-dev/authd/internal/authzmatrix"
	"github.com/authd-dev/authd/wire"
)

// The outcomes of authorization, next to those of authentication
// (interceptors_test.go): PermissionDenied with ErrorInfo metadata.
const (
	roleDenied  = wire.ReasonInsufficientRole
	scopeDenied = wire.ReasonInsufficientScope
)

// grpcTransport serves authzmatrix's methods on a grpc-go server behind
// the interceptors, over bufconn.
type grpcTransport struct{}

func (grpcTransport) Serve(t *testing.T, g *guard.Guard, methods []authzmatrix.Method, h authzmatrix.Handler) authzmatrix.Server {
	authn := interceptors.New(g)
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(authn.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(authn.StreamServerInterceptor()),
	)
	descs := map[string]*grpc.ServiceDesc{}
	for _, m := range methods {
		service, name, _ := strings.Cut(strings.TrimPrefix(m.Name, "/"), "/")
		desc := descs[service]
		if desc == nil {
			desc = &grpc.ServiceDesc{ServiceName: service, HandlerType: (*any)(nil)}
			descs[service] = desc
		}
		if m.Stream {
			desc.Streams = append(desc.Streams, grpc.StreamDesc{StreamName: name, ServerStreams: true,
				Handler: func(_ any, stream grpc.ServerStream) error {
					if err := stream.RecvMsg(new(emptypb.Empty)); err != nil {
						return err
					}
					reply, err := h(stream.Context())
					if err != nil {
						return err
					}
					return stream.SendMsg(reply)
				}})
			continue
		}
		desc.Methods = append(desc.Methods, grpc.MethodDesc{MethodName: name,
			Handler: func(_ any, ctx context.Context, dec func(any) error, icpt grpc.UnaryServerInterceptor) (any, error) {
				in := new(emptypb.Empty)
				if err := dec(in); err != nil {
					return nil, err
				}
				handler := func(ctx context.Context, _ any) (any, error) { return h(ctx) }
				if icpt == nil {
					return handler(ctx, in)
				}
				return icpt(ctx, in, &grpc.UnaryServerInfo{FullMethod: m.Name}, handler)
			}})
	}
	for _, desc := range descs {
		srv.RegisterService(desc, struct{}{})
	}
	return grpcServer{conn: tokens.Serve(t, srv), check: func() error { return authn.CheckServer(srv) }}
}

type grpcServer struct {
	conn  *grpc.ClientConn
	check func() error
}

func (s grpcServer) Check() error { return s.check() }

func (s grpcServer) Call(ctx context.Context, m authzmatrix.Method, authorization []string) (*structpb.Struct, error) {
	for _, v := range authorization {
		ctx = metadata.AppendToOutgoingContext(ctx, wire.AuthorizationKey, v)
	}
	out := new(structpb.Struct)
	if !m.Stream {
		return out, s.conn.Invoke(ctx, m.Name, &emptypb.Empty{}, out)
	}
	stream, err := s.conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, m.Name)
	if err != nil {
		return nil, err
	}
	if err := stream.SendMsg(&emptypb.Empty{}); err != nil {
		return nil, err
	}
	if err := stream.CloseSend(); err != nil {
		return nil, err
	}
	return out, stream.RecvMsg(out)
}

// The requirements and authorization matrices of every adapter, through
// grpc-go's.
func TestMatrix(t *testing.T) {
	authzmatrix.Run(t, grpcTransport{})
}

// The shipped greeter's rules in greeter.proto: Admin needs the role admin,
// ReadOrders the scope orders:read (a service account's, or a user's), and
// their handlers see the roles and scopes of the token.
func TestAuthz_GreeterAdminAndReadOrders(t *testing.T) {
	iss := tokens.New(t)
	client := newGreeter(t, iss, guard.Config{})
	callers := authzmatrix.Callers(t, iss)
	ctx := func(caller string) context.Context {
		if caller == authzmatrix.NoToken {
			return bg
		}
		return tokens.Bearer(bg, callers[caller])
	}
	for _, tc := range []struct{ caller, admin, orders string }{
		{authzmatrix.NoToken, missing, missing},
		{authzmatrix.ExpiredToken, expired, expired},
		{authzmatrix.RefreshAdmin, wrongType, wrongType},
		{authzmatrix.NoRole, roleDenied, scopeDenied},
		{authzmatrix.RightRole, roleDenied, scopeDenied},
		{authzmatrix.Admin, ok, scopeDenied},
		{authzmatrix.ScopeMissing, ok, scopeDenied},
		{authzmatrix.ScopePresent, roleDenied, ok},
		{authzmatrix.ServiceAccount, roleDenied, ok},
	} {
		t.Run("Admin/"+tc.caller, func(t *testing.T) {
			resp, err := client.Admin(ctx(tc.caller), &examplev1.AdminRequest{})
			authzmatrix.WantOutcome(t, err, tc.admin, "admin")
			if err == nil && (resp.Message != "hello, administrator alice" || !slices.Contains(resp.Roles, "admin")) {
				t.Fatalf("Admin = %v", resp)
			}
		})
		t.Run("ReadOrders/"+tc.caller, func(t *testing.T) {
			resp, err := client.ReadOrders(ctx(tc.caller), &examplev1.ReadOrdersRequest{})
			authzmatrix.WantOutcome(t, err, tc.orders, "orders:read")
			if err == nil && (resp.Subject != authzmatrix.SubjectOf(tc.caller) || !slices.Contains(resp.Scopes, "orders:read")) {
				t.Fatalf("ReadOrders = %v", resp)
			}
		})
	}
	resp, err := client.ReadOrders(ctx(authzmatrix.ServiceAccount), &examplev1.ReadOrdersRequest{})
	if err != nil || resp.Subject != "client:billing" || !slices.Equal(resp.Scopes, []string{"orders:read"}) {
		t.Fatalf("ReadOrders as the service account = %v, %v", resp, err)
	}
}
