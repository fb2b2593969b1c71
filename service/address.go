package service

import (
	"context"
	"net"
	"net/netip"
	"strings"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
)

// clientAddress is the caller's IP address, IPv6 reduced to its /64 (one
// host usually owns the whole prefix). When the peer is a trusted proxy,
// the client is the rightmost address of its forwarding headers that is
// not itself a trusted proxy; headers from any other peer are ignored, so
// a client cannot choose its own bucket.
func (s *Service) clientAddress(ctx context.Context) string {
	return clientAddress(ctx, s.cfg.TrustedProxies)
}

func clientAddress(ctx context.Context, trusted []netip.Prefix) string {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return "unknown"
	}
	s := p.Addr.String()
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return s // not IP (bufconn, a unix socket): one bucket
	}
	ip = ip.Unmap()
	if isTrusted(ip, trusted) {
		if client, ok := forwardedClient(ctx, trusted); ok {
			ip = client
		}
	}
	if ip.Is6() {
		prefix, _ := ip.Prefix(64)
		return prefix.String()
	}
	return ip.String()
}

func isTrusted(ip netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// forwardedClient walks the hops of x-forwarded-for, or else of forwarded
// (RFC 7239), from the nearest: the first hop that is not a trusted proxy
// is the client. A malformed hop ends the walk without an answer.
func forwardedClient(ctx context.Context, trusted []netip.Prefix) (netip.Addr, bool) {
	md, _ := metadata.FromIncomingContext(ctx)
	hops := forwardedFor(md.Get("x-forwarded-for"), false)
	if len(hops) == 0 {
		hops = forwardedFor(md.Get("forwarded"), true)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		ip, err := netip.ParseAddr(hops[i])
		if err != nil {
			return netip.Addr{}, false
		}
		if ip = ip.Unmap(); !isTrusted(ip, trusted) {
			return ip, true
		}
	}
	return netip.Addr{}, false
}

// forwardedFor lists the addresses of the hops, nearest last: the values
// of x-forwarded-for ("a, b"), or the for= parameters of forwarded
// ("for=a;proto=https, for=\"[v6]:port\"").
func forwardedFor(values []string, rfc7239 bool) []string {
	var hops []string
	for _, v := range values {
		for _, hop := range strings.Split(v, ",") {
			hop = strings.TrimSpace(hop)
			if rfc7239 {
				found := ""
				for _, param := range strings.Split(hop, ";") {
					name, value, _ := strings.Cut(strings.TrimSpace(param), "=")
					if strings.EqualFold(name, "for") {
						found = strings.Trim(value, `"`)
					}
				}
				hop = found
			}
			if host, _, err := net.SplitHostPort(hop); err == nil {
				hop = host
			}
			hops = append(hops, strings.Trim(hop, "[]"))
		}
	}
	return hops
}
