// Package connlimit bounds the connections a listener holds: in all, and
// per remote address, so that one host opening connections it never uses
// cannot exhaust a server's descriptors or crowd out everyone else.
package connlimit

import (
	"net"
	"net/netip"
	"sync"
)

// Reasons a connection is refused, as Config.Refused hears them.
const (
	ReasonTotal   = "total"
	ReasonAddress = "address"
)

// Config is a Listener's bounds.
type Config struct {
	// Max is the most connections held at once (at least 1).
	Max int
	// PerAddress is the most held at once from one remote address, IPv6
	// addresses counted by their /64 (at least 1).
	PerAddress int
	// Refused, when set, is called for each connection closed as soon as
	// it was accepted, with ReasonTotal or ReasonAddress.
	Refused func(reason string)
}

// Listener is a net.Listener whose Accept returns only connections within
// its bounds: one past them is closed at once, without a byte read or
// written, and Accept waits for the next. A connection counts until it is
// closed.
type Listener struct {
	net.Listener
	cfg Config

	mu      sync.Mutex
	total   int
	perAddr map[string]int
}

// New wraps l.
func New(l net.Listener, cfg Config) *Listener {
	cfg.Max, cfg.PerAddress = max(cfg.Max, 1), max(cfg.PerAddress, 1)
	return &Listener{Listener: l, cfg: cfg, perAddr: map[string]int{}}
}

// Accept returns the next connection within the bounds.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := addressKey(c.RemoteAddr())
		if reason := l.admit(key); reason != "" {
			// Counted before it is closed: whoever sees the close (a
			// test, a metric scrape after a client's error) sees the count.
			if l.cfg.Refused != nil {
				l.cfg.Refused(reason)
			}
			c.Close()
			continue
		}
		return &conn{Conn: c, release: func() { l.release(key) }}, nil
	}
}

// Held returns the connections held now.
func (l *Listener) Held() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

func (l *Listener) admit(key string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.total >= l.cfg.Max:
		return ReasonTotal
	case l.perAddr[key] >= l.cfg.PerAddress:
		return ReasonAddress
	}
	l.total++
	l.perAddr[key]++
	return ""
}

func (l *Listener) release(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.perAddr[key]--; l.perAddr[key] <= 0 {
		delete(l.perAddr, key)
	}
}

// addressKey is the remote host, an IPv6 address reduced to its /64 (one
// host usually holds the whole prefix).
func addressKey(a net.Addr) string {
	if a == nil {
		return ""
	}
	s := a.String()
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return s
	}
	if ip = ip.Unmap(); ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// conn gives its place back when closed, once.
type conn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
