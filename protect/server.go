package protect

import (
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/interceptors"
)

// Limits bound what a caller can make a protected service hold before it
// has proven anything; zero fields take the defaults below, each far below
// grpc-go's own (4 MiB messages, unlimited streams, 120 s handshakes).
type Limits struct {
	// MaxRecvMsgSize is the largest request read (0:
	// DefaultMaxRecvMsgSize); a longer one is refused by its length
	// prefix, unread. Size it to the service's largest legitimate request.
	MaxRecvMsgSize int
	// MaxConcurrentStreams bounds the calls one connection has open at
	// once (0: DefaultMaxConcurrentStreams).
	MaxConcurrentStreams uint32
	// ConnectionTimeout bounds a new connection's handshake, TLS and
	// HTTP/2 preface (0: DefaultConnectionTimeout): a connection that
	// never completes it is closed.
	ConnectionTimeout time.Duration
	// MaxHeaderListSize bounds a call's metadata (0:
	// DefaultMaxHeaderListSize, room for an 8 KiB token).
	MaxHeaderListSize uint32
}

// Defaults of Limits.
const (
	DefaultMaxRecvMsgSize       = 64 << 10
	DefaultMaxConcurrentStreams = 100
	DefaultConnectionTimeout    = 5 * time.Second
	DefaultMaxHeaderListSize    = 16 << 10
)

// ServerOptions are the grpc.ServerOptions a service protected by g should
// run with, beside g's interceptors (interceptors.New(g)):
//
//   - calls to a method that needs a token are refused as their headers
//     arrive, before their body is read, when they carry none or one not
//     shaped like a token (interceptors.TapHandle; grpc-go takes one tap
//     handle per server);
//   - requests over Limits.MaxRecvMsgSize are refused unread;
//   - at most Limits.MaxConcurrentStreams calls per connection, and
//     Limits.MaxHeaderListSize of metadata per call;
//   - handshakes bounded by Limits.ConnectionTimeout;
//   - keepalive enforced: clients may not ping more often than every 10 s
//     (a ping flood is answered with GOAWAY), idle connections close after
//     15 minutes, and dead ones are found within 2 minutes 20 s.
//
// Without them a caller with no token makes the service read and hold
// whole 4 MiB requests before any interceptor runs.
//
//	srv := grpc.NewServer(append(protect.ServerOptions(g, protect.Limits{}),
//		grpc.ChainUnaryInterceptor(interceptors.New(g).UnaryServerInterceptor()),
//		grpc.ChainStreamInterceptor(interceptors.New(g).StreamServerInterceptor()))...)
func ServerOptions(g *guard.Guard, limits Limits) []grpc.ServerOption {
	def := func(v, d int64) int64 {
		if v <= 0 {
			return d
		}
		return v
	}
	return []grpc.ServerOption{
		grpc.InTapHandle(interceptors.TapHandle(g)),
		grpc.MaxRecvMsgSize(int(def(int64(limits.MaxRecvMsgSize), DefaultMaxRecvMsgSize))),
		grpc.MaxConcurrentStreams(uint32(def(int64(limits.MaxConcurrentStreams), DefaultMaxConcurrentStreams))),
		grpc.ConnectionTimeout(time.Duration(def(int64(limits.ConnectionTimeout), int64(DefaultConnectionTimeout)))),
		grpc.MaxHeaderListSize(uint32(def(int64(limits.MaxHeaderListSize), DefaultMaxHeaderListSize))),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: 15 * time.Minute, Time: 2 * time.Minute, Timeout: 20 * time.Second}),
	}
}
