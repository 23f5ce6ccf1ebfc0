// Package peer says where a request comes from: the caller's network address (seen through the
// reverse proxies the operator trusts) and its user agent. Sessions record it; limits count by it.
package peer

import (
	"context"
	"net/http"
	"net/netip"
	"strings"

	"github.com/plano/planoauth/internal/reqstate"
)

// Peer is the network end of a request.
type Peer struct {
	Address   string
	UserAgent string
}

// maxUserAgent bounds the user agent kept on a session.
const maxUserAgent = 512

// NewContext returns a context carrying p.
func NewContext(ctx context.Context, p Peer) context.Context {
	return reqstate.Set(ctx, reqstate.Peer, p)
}

// FromContext returns the request's peer (the zero Peer outside a request).
func FromContext(ctx context.Context) Peer {
	return reqstate.Get[Peer](ctx, reqstate.Peer)
}

// Middleware puts each request's peer in its context. Requests from trustedProxies are taken to
// come from the address they name in X-Forwarded-For (see Address).
func Middleware(trustedProxies []netip.Prefix) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p := Peer{Address: Address(r, trustedProxies), UserAgent: truncate(r.UserAgent(), maxUserAgent)}
			next.ServeHTTP(w, reqstate.Record(r, reqstate.Peer, p))
		})
	}
}

// Address is the address a request comes from: its peer's, unless the peer is a trusted proxy,
// in which case the right-most X-Forwarded-For entry that is not a trusted proxy (entries further
// left were written by the client and prove nothing).
func Address(r *http.Request, trustedProxies []netip.Prefix) string {
	peer := parseAddr(r.RemoteAddr)
	if !peer.IsValid() {
		return r.RemoteAddr
	}
	addr := peer
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0 && trusted(addr, trustedProxies); i-- {
		next := parseAddr(strings.TrimSpace(hops[i]))
		if !next.IsValid() {
			break
		}
		addr = next
	}
	return addr.String()
}

// FromTrustedProxy reports whether a request's own peer (not what X-Forwarded-For says) is one
// of trustedProxies: only then are the headers a proxy sets about its client believed.
func FromTrustedProxy(r *http.Request, trustedProxies []netip.Prefix) bool {
	addr := parseAddr(r.RemoteAddr)
	return addr.IsValid() && trusted(addr, trustedProxies)
}

// Group is what one caller controls of an address: an IPv4 address, or an IPv6 /64 (a single
// host is commonly given a whole /64, so counting single IPv6 addresses would count nothing).
func Group(address string) string {
	addr, err := netip.ParseAddr(address)
	if err != nil || !addr.Is6() {
		return address
	}
	prefix, _ := addr.Prefix(64)
	return prefix.String()
}

func parseAddr(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap()
	}
	addr, _ := netip.ParseAddr(s)
	return addr.Unmap()
}

func trusted(addr netip.Addr, proxies []netip.Prefix) bool {
	for _, p := range proxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
