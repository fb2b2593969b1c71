// Package server is authd as an importable server: a Config, a
// constructor that opens the store, Redis and the signing keys and
// assembles the session engine, the accounts, the Guard and the gRPC API
// (package service), and Run/Serve and Shutdown, which serve gRPC and the
// HTTP listeners (JWKS, discovery, health, readiness, metrics, profiles)
// and run the maintenance loops (key reloads, session pruning, certificate
// reloads) on the injectable clock.
//
// cmd/authd maps flags, environment and a config file onto a Config; an
// embedder fills one itself:
//
//	cfg := server.Defaults()
//	cfg.DataDir, cfg.HTTPAddr = "/var/lib/authd", "127.0.0.1:8080"
//	srv, err := server.New(ctx, cfg)
//	if err != nil {
//		return err
//	}
//	defer srv.Close()
//	return srv.Run(ctx) // until ctx ends, then a graceful stop
package server
