// Command consumer is a service protected by authd, in a module of its
// own, and a client of it:
//
//	consumer serve -addr 127.0.0.1:50053 -authd 127.0.0.1:50051
//	AUTHD_PASSWORD=… consumer get -addr 127.0.0.1:50053 -authd 127.0.0.1:50051 -user alice -id o-1
//
// It talks plaintext on loopback; anywhere else give both connections TLS
// credentials and drop client.Config.Insecure.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	ordersv1 "example.com/consumer/gen/orders/v1"

	"github.com/authd-dev/authd/client"
	"github.com/authd-dev/authd/protect"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: consumer serve|get [flags]")
		os.Exit(2)
	}
	flags := flag.NewFlagSet("consumer "+os.Args[1], flag.ExitOnError)
	addr := flags.String("addr", "127.0.0.1:50053", "the order service's address")
	authdAddr := flags.String("authd", "127.0.0.1:50051", "authd's gRPC address")
	user := flags.String("user", "alice", "get: the user to log in as (password in $AUTHD_PASSWORD)")
	id := flags.String("id", "o-1", "get: the order to read")
	if err := flags.Parse(os.Args[2:]); err != nil {
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(ctx, *addr, *authdAddr)
	case "get":
		err = get(ctx, *addr, *authdAddr, *user, os.Getenv("AUTHD_PASSWORD"), *id)
	default:
		err = fmt.Errorf("unknown command %q (serve or get)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "consumer:", err)
		os.Exit(1)
	}
}

// serve runs the order service until ctx ends.
func serve(ctx context.Context, addr, authdAddr string) error {
	authdConn, err := grpc.NewClient(authdAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer authdConn.Close()
	// Keys from authd's JWKS, revoked sessions polled every 5 s, health
	// public; fails when authd cannot be reached.
	g, err := protect.New(ctx, authdConn, protect.Config{})
	if err != nil {
		return err
	}
	srv, err := newServer(g)
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	slog.Info("orders serving", "addr", lis.Addr().String(), "authd", authdAddr)
	go func() {
		<-ctx.Done()
		srv.GracefulStop()
	}()
	return srv.Serve(lis)
}

// get logs in to authd and reads an order as that user.
func get(ctx context.Context, addr, authdAddr, user, password, id string) error {
	if password == "" {
		return errors.New("set AUTHD_PASSWORD")
	}
	creds := insecure.NewCredentials() // loopback only
	authdConn, err := grpc.NewClient(authdAddr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return err
	}
	defer authdConn.Close()
	c, err := client.New(ctx, authdConn, client.Config{
		Insecure: true, // tokens may travel without TLS: loopback only, with creds above
	})
	if err != nil {
		return err
	}
	if err := c.Login(ctx, user, password); err != nil {
		return err
	}
	conn, err := grpc.NewClient(addr, append(c.DialOptions(), grpc.WithTransportCredentials(creds))...)
	if err != nil {
		return err
	}
	defer conn.Close()
	order, err := ordersv1.NewOrderServiceClient(conn).GetOrder(ctx, &ordersv1.GetOrderRequest{Id: id})
	if err != nil {
		return err
	}
	fmt.Printf("order %s, read by %s\n", order.GetId(), order.GetViewer())
	return nil
}
