package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	authv1 "github.com/authd-dev/authd/gen/auth/v1"
)

// driver sends the loads ghz cannot describe: ghz sends the same metadata
// on every call, and a rotated refresh token may be spent only once. It
// sends as ghz is told to in call.run: 8 calls at once over 2 connections.
type driver struct {
	conns       []*grpc.ClientConn
	concurrency int
}

func newDriver(addr string) (*driver, error) {
	d := &driver{concurrency: 8}
	for range 2 {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			d.close()
			return nil, err
		}
		d.conns = append(d.conns, conn)
	}
	return d, nil
}

func (d *driver) close() {
	for _, c := range d.conns {
		c.Close()
	}
}

// run sends n calls, d.concurrency at a time; send makes one call over
// conn. Every call must succeed, as ghz's rows require.
func (d *driver) run(n int, send func(ctx context.Context, conn *grpc.ClientConn) error) (measured, error) {
	return d.runUntil(context.Background(), n, send)
}

// runUntil is run that stops sending once stop is done (the calls under
// way finish), and measures the calls it sent.
func (d *driver) runUntil(stop context.Context, n int, send func(ctx context.Context, conn *grpc.ClientConn) error) (measured, error) {
	latencies := make([]time.Duration, n)
	var next atomic.Int64
	errs := make([]error, d.concurrency)
	var wg sync.WaitGroup
	began := time.Now()
	for w := range d.concurrency {
		conn := d.conns[w%len(d.conns)]
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n && stop.Err() == nil; i = int(next.Add(1)) - 1 {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				t := time.Now()
				err := send(ctx, conn)
				latencies[i] = time.Since(t)
				cancel()
				if err != nil {
					errs[w] = fmt.Errorf("call %d: %w", i, err)
					next.Store(int64(n)) // the others stop after their current call
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(began)
	if err := errors.Join(errs...); err != nil {
		return measured{}, err
	}
	// Stopped early, some numbered calls were never sent: only those sent
	// have a latency.
	latencies = slices.DeleteFunc(latencies, func(l time.Duration) bool { return l == 0 })
	n = len(latencies)
	if n == 0 {
		return measured{}, errors.New("no call was sent")
	}
	slices.Sort(latencies)
	return measured{
		count: n,
		rps:   float64(n) / elapsed.Seconds(),
		p50:   latencies[n*50/100],
		p99:   latencies[min(n*99/100, n-1)],
	}, nil
}

// healthCheck is the no-op baseline: grpc.health.v1.Health/Check, public.
func healthCheck(ctx context.Context, conn *grpc.ClientConn) error {
	_, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	return err
}

// refreshPool holds refresh tokens never spent: a Refresh takes one and
// puts back its successor, so each token in the pool is refreshed exactly
// once, as a client with rotation on does.
type refreshPool chan string

// newRefreshPool logs in size sessions, one at a time: this is setup, not
// load, and more logins of one account from one address in flight at once
// than the throttling allows would be refused.
func newRefreshPool(d *driver, size int, username, password string) (refreshPool, error) {
	pool := make(refreshPool, size)
	logins := &driver{conns: d.conns, concurrency: 1}
	_, err := logins.run(size, func(ctx context.Context, conn *grpc.ClientConn) error {
		resp, err := authv1.NewAuthServiceClient(conn).Login(ctx, &authv1.LoginRequest{Username: username, Password: password})
		if err != nil {
			return fmt.Errorf("login: %w", err)
		}
		pool <- resp.RefreshToken
		return nil
	})
	return pool, err
}

// refresh spends a token of the pool and puts back the one it rotated to.
func (p refreshPool) refresh(ctx context.Context, conn *grpc.ClientConn) error {
	var tok string
	select {
	case tok = <-p:
	case <-ctx.Done():
		return ctx.Err()
	}
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
	resp, err := authv1.NewAuthServiceClient(conn).Refresh(ctx, &authv1.RefreshRequest{})
	if err != nil {
		return fmt.Errorf("refresh: %w", err)
	}
	p <- resp.RefreshToken
	return nil
}
