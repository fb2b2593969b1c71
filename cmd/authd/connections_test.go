package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	authv1 "github.com/authd-dev/authd/gen/auth/v1"
)

// otherHost returns a loopback address other than 127.0.0.1, which authd
// counts as another host, or skips the test where there is none (Linux
// routes all of 127/8 to loopback; macOS only 127.0.0.1 by default).
func otherHost(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("SKIPPED: no second loopback address to flood from: %v", err)
	}
	l.Close()
	return "127.0.0.2"
}

// flood opens n idle TCP connections to addr from the loopback address
// from (another host, as authd counts them), at most 50 at a time, and
// returns them; they are closed with t.
func flood(t *testing.T, from, addr string, n int) []net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	conns := make([]net.Conn, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 50)
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := d.Dial("tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("dial %s from %s: %v", addr, from, err)
	}
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	return conns
}

// closedWithin counts the connections authd has closed (a read ends in EOF
// or a reset rather than the timeout) within d.
func closedWithin(conns []net.Conn, d time.Duration) int {
	var n int
	var mu sync.Mutex
	var wg sync.WaitGroup
	deadline := time.Now().Add(d)
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.SetReadDeadline(deadline)
			buf := make([]byte, 64)
			for {
				if _, err := c.Read(buf); err != nil {
					if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
						mu.Lock()
						n++
						mu.Unlock()
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	return n
}

// One host opening connections it never uses cannot take authd's
// listeners: past --max-connections-per-address its connections are
// closed as soon as accepted, the ones it holds are closed once
// --handshake-timeout passes without a handshake (gRPC) or request headers
// (HTTP), and meanwhile everyone else's health checks and calls are
// answered.
func TestE2E_IdleConnectionFloodIsBounded(t *testing.T) {
	t.Parallel()
	const perAddress, floodSize = 20, 300
	srv := startProcess(t, t.TempDir(), nil, "--http-addr", "127.0.0.1:0",
		"--max-connections", "100", "--max-connections-per-address", "20", "--handshake-timeout", "2s")
	start := time.Now()
	from := otherHost(t)
	grpcFlood := flood(t, from, srv.addr, floodSize)
	httpFlood := flood(t, from, srv.httpAddr, floodSize)

	// Everyone else is served while the flood is held.
	if code, body := getStatus(t, "http://"+srv.httpAddr+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz during the flood: %d %q", code, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := grpc.NewClient(srv.addr, dialInsecure)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := authv1.NewAuthServiceClient(conn).GetJWKS(ctx, &authv1.GetJWKSRequest{}); err != nil {
		t.Fatalf("a call during the flood: %v", err)
	}

	// Past the per-address bound, closed at once (well before the
	// handshake timeout); the rest once the timeout has passed.
	for name, conns := range map[string][]net.Conn{"gRPC": grpcFlood, "HTTP": httpFlood} {
		if n := closedWithin(conns, time.Second); n < floodSize-perAddress {
			t.Errorf("%s: %d of %d idle connections from one address closed at once; want at least %d", name, n, floodSize, floodSize-perAddress)
		}
	}
	resp, err := http.Get("http://" + srv.httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, listener := range []string{"grpc", "http"} {
		if want := `authd_connections_refused_total{listener="` + listener + `",reason="address"}`; !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics has no %s", want)
		}
	}
	for name, conns := range map[string][]net.Conn{"gRPC": grpcFlood, "HTTP": httpFlood} {
		if n := closedWithin(conns, 2*time.Second+patience/3); n != floodSize {
			t.Errorf("%s: %d of %d idle connections closed within the handshake timeout (%s since the flood)", name, n, floodSize, time.Since(start))
		}
	}
}
