// Package requestid gives every request an id that travels in its context, its logs, the
// X-Request-Id response header and the body of every 5xx answer.
package requestid

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/netip"
	"regexp"

	"github.com/plano/planoauth/internal/peer"
	"github.com/plano/planoauth/internal/reqstate"
)

// Header is the request and response header carrying the id.
const Header = "X-Request-Id"

// acceptable limits ids taken from trusted proxies to a short, log-safe alphabet.
var acceptable = regexp.MustCompile(`^[A-Za-z0-9._-]{8,64}$`)

// New returns a random 128-bit id in hex.
func New() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// NewContext returns a context carrying id.
func NewContext(ctx context.Context, id string) context.Context {
	return reqstate.Set(ctx, reqstate.RequestID, id)
}

// FromContext returns the request id, or "" outside a request.
func FromContext(ctx context.Context) string {
	return reqstate.Get[string](ctx, reqstate.RequestID)
}

// Middleware makes every request a new id, and echoes it in the response header. An id the
// caller sent is kept only from a trusted proxy (peer.FromTrustedProxy; well formed), so that a
// chain of services behind one shares an id: anyone else could write an id of its choosing into
// the logs and the audit trail (another request's, to muddle an investigation).
func Middleware(trustedProxies []netip.Prefix) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := r.Header.Get(Header)
			if !acceptable.MatchString(id) || !peer.FromTrustedProxy(r, trustedProxies) {
				id = New()
			}
			w.Header().Set(Header, id)
			next.ServeHTTP(w, reqstate.Record(r, reqstate.RequestID, id))
		})
	}
}
