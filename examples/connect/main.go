// Command connect serves the NoteService of notes.proto with connect-go
// (Connect, gRPC and gRPC-Web on one HTTP port), protected by authd
// through package connectauth, and the notes page of examples/web, which
// logs in to authd with cookies:
//
//	connect --addr 127.0.0.1:50054 --authd 127.0.0.1:50051 --authd-http http://127.0.0.1:8080 --web ../web/dist
//	authd serve --http-addr 127.0.0.1:8080 --cors-origins http://127.0.0.1:50054
//
// It talks plaintext on loopback, where browsers keep Secure cookies
// without TLS; anywhere else serve both over HTTPS.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/authd-dev/authd/connectauth"
	"github.com/authd-dev/authd/protect"
)

func main() {
	flags := flag.NewFlagSet("connect", flag.ExitOnError)
	addr := flags.String("addr", "127.0.0.1:50054", "the HTTP address to serve the NoteService and the page on")
	authdAddr := flags.String("authd", "127.0.0.1:50051", "authd's gRPC address")
	authdHTTP := flags.String("authd-http", "http://127.0.0.1:8080", "authd's HTTP endpoint as the page reaches it (Login, Refresh, Logout over Connect)")
	web := flags.String("web", "", "the directory of the built page (examples/web/dist); empty: no page")
	if err := flags.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, *addr, *authdAddr, *authdHTTP, *web); err != nil {
		fmt.Fprintln(os.Stderr, "connect:", err)
		os.Exit(1)
	}
}

// serve runs the NoteService, and the page when webDir is set, until ctx
// ends.
func serve(ctx context.Context, addr, authdAddr, authdHTTP, webDir string) error {
	authdConn, err := grpc.NewClient(authdAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer authdConn.Close()
	authn, err := connectauth.Protect(ctx, authdConn, protect.Config{})
	if err != nil {
		return err
	}
	mux, err := newMux(authn)
	if err != nil {
		return err
	}
	if webDir != "" {
		page, err := newPage(webDir, authdHTTP)
		if err != nil {
			return err
		}
		mux.Handle("/", page)
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, Protocols: new(http.Protocols)}
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true) // gRPC clients, without TLS on loopback
	slog.Info("notes serving", "addr", lis.Addr().String(), "authd", authdAddr, "web", webDir)
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(lis); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
