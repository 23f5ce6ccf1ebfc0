package reqstate

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestRecordKeepsTheRequest shows why the state exists: behind Middleware, recording a value
// neither copies the request nor derives a context, and a later step reads it.
func TestRecordKeepsTheRequest(t *testing.T) {
	var seen string
	h := Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		recorded := Record(r, RequestID, "abc")
		if recorded != r {
			t.Error("Record copied the request although it has a state")
		}
		seen = Get[string](r.Context(), RequestID)
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	if seen != "abc" {
		t.Errorf("Get = %q, want what was recorded", seen)
	}
}

// TestOutsideARequest: without Middleware, Set and Record start a state of their own, and
// nothing recorded is visible from the context they started from.
func TestOutsideARequest(t *testing.T) {
	base := context.Background()
	ctx := Set(base, Peer, "10.0.0.1")
	if got := Get[string](ctx, Peer); got != "10.0.0.1" {
		t.Errorf("Get = %q after Set", got)
	}
	if got := Get[string](base, Peer); got != "" {
		t.Errorf("the parent context sees %q", got)
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if recorded := Record(r, Operation, 7); recorded == r || Get[int](recorded.Context(), Operation) != 7 {
		t.Error("Record outside a request must return a copy carrying the value")
	}
	if got := Get[int](ctx, Operation); got != 0 {
		t.Errorf("a slot of another type reads %d, want the zero value", got)
	}
}

// TestSetDerives: Set inside a request derives, as context.WithValue does; the request's own
// state, which the access log and the handler's other work read, keeps what was recorded.
func TestSetDerives(t *testing.T) {
	h := Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = Record(r, Peer, "client")
		sub := Set(r.Context(), Peer, "other")
		if got := Get[string](sub, Peer); got != "other" {
			t.Errorf("the derived context reads %q", got)
		}
		if got := Get[string](r.Context(), Peer); got != "client" {
			t.Errorf("the request's state reads %q after a Set on a derived context", got)
		}
		r = Record(r, RequestID, "late")
		if got := Get[string](sub, RequestID); got != "" {
			t.Errorf("the derived context sees %q, recorded after it was derived", got)
		}
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
}
