package service

import (
	"fmt"
	"net"
	"net/http"
	"strings"

	"connectrpc.com/connect"
	"connectrpc.com/vanguard"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/tap"

	"github.com/authd-dev/authd/connectauth"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
)

// maxConnectBody bounds the body of a call over HTTP: one request message
// of at most MaxRequestSize and its framing (a gRPC-Web or Connect
// streaming envelope is 5 bytes), in JSON up to twice as long.
const maxConnectBody = 2*MaxRequestSize + 64

// NewConnectHandler serves svc's AuthService over HTTP for clients that
// cannot speak gRPC over HTTP/2, browsers first: the Connect protocol
// (JSON and binary) and gRPC-Web, at the gRPC paths
// (/auth.v1.AuthService/Login). Each call is transcoded to gRPC
// (connectrpc.com/vanguard) and served by srv, the server NewServer built
// for svc: the same interceptors, Guard, logging, metrics and bounds as
// the gRPC port, and the same answers. Before that, as on the gRPC port's
// tap handle, calls to the public polls over their address's rate are
// refused, and no body is read past a request's bound. AdminService is
// not served here: it stays on the gRPC port.
func NewConnectHandler(svc *Service, srv *grpc.Server) (http.Handler, error) {
	if svc.bounds == nil {
		return nil, fmt.Errorf("service: NewConnectHandler needs the server NewServer built for the service")
	}
	auth := vanguard.NewService(authv1.AuthService_ServiceDesc.ServiceName, srv,
		vanguard.WithTargetProtocols(vanguard.ProtocolGRPC),
		vanguard.WithTargetCodecs(vanguard.CodecProto),
		vanguard.WithMaxMessageBufferBytes(maxConnectBody))
	transcoder, err := vanguard.NewTranscoder([]*vanguard.Service{auth})
	if err != nil {
		return nil, err
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := svc.bounds.tapHTTP(r); err != nil {
			// The refusal in the caller's protocol: the transcoder answers
			// calls to an unknown path the same way.
			writeConnectError(w, r, err)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxConnectBody)
		transcoder.ServeHTTP(w, r)
	}), nil
}

// tapHTTP is tap for a call arriving over HTTP: the caller's address as
// grpc-go's handler transport will read it (r.RemoteAddr, and forwarding
// headers through trusted proxies).
func (b *publicBounds) tapHTTP(r *http.Request) error {
	method := r.URL.Path
	switch method {
	case authv1.AuthService_CheckSession_FullMethodName, authv1.AuthService_ListRevocations_FullMethodName,
		authv1.AuthService_BeginPasskeyLogin_FullMethodName:
	default:
		return nil
	}
	md := metadata.MD{}
	for k, v := range r.Header {
		md[strings.ToLower(k)] = v
	}
	ctx := metadata.NewIncomingContext(r.Context(), md)
	if addr, err := net.ResolveTCPAddr("tcp", r.RemoteAddr); err == nil {
		ctx = peer.NewContext(ctx, &peer.Peer{Addr: addr})
	}
	_, err := b.tap(ctx, &tap.Info{FullMethodName: method, Header: md})
	return err
}

// writeConnectError writes err, a refusal, in the protocol of the call r
// (Connect, gRPC-Web or gRPC), as connectauth maps refusals: the code,
// message and details the gRPC port would send.
func writeConnectError(w http.ResponseWriter, r *http.Request, err error) {
	_ = connect.NewErrorWriter().Write(w, r, connectauth.Error(err))
}
