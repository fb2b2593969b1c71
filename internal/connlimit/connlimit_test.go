package connlimit_test

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/authd-dev/authd/internal/connlimit"
)

// accepted serves l, keeping every connection it accepts open until the
// test ends, and sends each on the channel.
func accepted(t *testing.T, l net.Listener) <-chan net.Conn {
	t.Helper()
	ch := make(chan net.Conn, 100)
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
			ch <- c
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	return ch
}

// closedByPeer reports whether the server closed c (EOF) within a second.
func closedByPeer(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(time.Second))
	_, err := c.Read(make([]byte, 1))
	return err != nil && !isTimeout(err)
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Past PerAddress a remote address's connection is closed at once; one of
// its connections closing frees a place; Refused hears why.
func TestListener_PerAddress(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	reasons := map[string]int{}
	l := connlimit.New(raw, connlimit.Config{Max: 100, PerAddress: 3, Refused: func(r string) {
		mu.Lock()
		reasons[r]++
		mu.Unlock()
	}})
	got := accepted(t, l)
	var server []net.Conn
	for range 3 {
		dial(t, raw.Addr().String())
		server = append(server, <-got)
	}
	if extra := dial(t, raw.Addr().String()); !closedByPeer(extra) {
		t.Fatal("a fourth connection from one address was kept")
	}
	mu.Lock()
	if reasons[connlimit.ReasonAddress] != 1 {
		t.Errorf("refusals %v", reasons)
	}
	mu.Unlock()
	server[0].Close()
	server[0].Close() // twice: one place freed
	deadline := time.Now().Add(5 * time.Second)
	for l.Held() != 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	again := dial(t, raw.Addr().String())
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("no connection accepted after one closed")
	}
	if closedByPeer(again) {
		t.Fatal("the connection after one closed was refused")
	}
	if n := l.Held(); n != 3 {
		t.Errorf("held %d, want 3", n)
	}
}

// Past Max every connection is closed at once, whatever its address.
func TestListener_Total(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := connlimit.New(raw, connlimit.Config{Max: 2, PerAddress: 10})
	got := accepted(t, l)
	for range 2 {
		dial(t, raw.Addr().String())
		<-got
	}
	if extra := dial(t, raw.Addr().String()); !closedByPeer(extra) {
		t.Fatal("a connection past Max was kept")
	}
}
