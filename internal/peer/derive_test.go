package peer_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/plano/planoauth/internal/envelope"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/peer"
	"github.com/plano/planoauth/internal/reqstate"
)

// TestNewContextLeavesTheRequestAlone (review7): peer.NewContext and
// envelope.NewContextCallerSession say they "return a context carrying" a value. Called inside a
// request (behind reqstate.Middleware), they must derive a context for the sub-call and leave the
// request's own context (its peer, its caller session) as it was: every context of the request
// (the access log, background work started with inBackground) shares the request's state.
func TestNewContextLeavesTheRequestAlone(t *testing.T) {
	other := peer.Peer{Address: "203.0.113.66", UserAgent: "someone else"}
	var parentPeer peer.Peer
	var parentSession *gen.Session
	h := reqstate.Middleware(peer.Middleware(nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		parent := r.Context()
		_ = peer.NewContext(parent, other)                           // for a sub-call only
		_ = envelope.NewContextCallerSession(parent, &gen.Session{}) // for a sub-call only
		parentPeer, parentSession = peer.FromContext(parent), envelope.CallerSession(parent)
	})))
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "127.0.0.7:1234"
	h.ServeHTTP(httptest.NewRecorder(), r)
	if parentPeer.Address != "127.0.0.7" {
		t.Errorf("the request's peer became %v after deriving a context for another peer", parentPeer.Address)
	}
	if parentSession != nil {
		t.Error("the request got a caller session after deriving a context carrying one")
	}
}
