// Package protect builds the guard.Guard of a service that verifies
// authd's tokens: keys from authd's JWKS, logged-out sessions refused
// within a poll of authd's revocation list, health and reflection public,
// and, when asked, sliding renewal through authd — the secure setup in one
// call, so that the shortest code is also the safe one.
//
// Without revocation polling a service would accept a logged-out user's
// access token until it expires (15 minutes by default); protect polls
// every 5 s unless told otherwise (Config.Revocation), and refuses tokens
// of sessions authd does not know (a forged sid) by asking authd once per
// new session.
//
// Usage (examples/consumer in the repository is a complete module):
//
//	authdConn, err := grpc.NewClient("authd:50051", grpc.WithTransportCredentials(creds))
//	…
//	g, err := protect.New(ctx, authdConn, protect.Config{}) // fails when authd cannot be reached
//	if err != nil {
//		return err
//	}
//	authn := interceptors.New(g)
//	srv := grpc.NewServer(
//		grpc.ChainUnaryInterceptor(authn.UnaryServerInterceptor()),
//		grpc.ChainStreamInterceptor(authn.StreamServerInterceptor()),
//	)
//	ordersv1.RegisterOrderServiceServer(srv, orders)
//	if err := authn.CheckServer(srv); err != nil {
//		return err // names every method that declares no requirement
//	}
//
// The context given to New bounds the revocation poller: cancel it when the
// server stops.
package protect
