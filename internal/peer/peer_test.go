package peer_test

import (
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/plano/planoauth/internal/peer"
)

func TestAddress(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	tests := []struct {
		name, peer, forwarded string
		proxies               []netip.Prefix
		want                  string
	}{
		{"NoProxyConfigured", "10.0.0.5:1234", "203.0.113.7", nil, "10.0.0.5"},
		{"UntrustedPeerIgnoresHeader", "198.51.100.9:1234", "203.0.113.7", proxies, "198.51.100.9"},
		{"TrustedPeer", "10.0.0.5:1234", "203.0.113.7", proxies, "203.0.113.7"},
		{"ChainOfProxies", "10.0.0.5:1234", "203.0.113.7, 10.1.1.1", proxies, "203.0.113.7"},
		{"SpoofedLeftEntryIgnored", "10.0.0.5:1234", "1.2.3.4, 203.0.113.7", proxies, "203.0.113.7"},
		{"GarbageStops", "10.0.0.5:1234", "not-an-ip", proxies, "10.0.0.5"},
		{"IPv6Peer", "[::1]:1234", "2001:db8::7", proxies, "2001:db8::7"},
		{"MappedIPv4", "[::ffff:198.51.100.9]:80", "", proxies, "198.51.100.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.peer
			if tt.forwarded != "" {
				r.Header.Set("X-Forwarded-For", tt.forwarded)
			}
			if got := peer.Address(r, tt.proxies); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestGroup(t *testing.T) {
	for address, want := range map[string]string{
		"203.0.113.7":          "203.0.113.7",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2::9":      "2001:db8:1:2::/64",
		"not an address":       "not an address",
	} {
		if got := peer.Group(address); got != want {
			t.Errorf("Group(%q) = %q, want %q", address, got, want)
		}
	}
}
