package password_test

import (
	"context"
	"crypto/sha1" //nolint:gosec // the range API's key
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plano/planoauth/internal/password"
)

// fakePwned serves the range API for the given breached passwords (and a padding line), and
// records the prefixes it was asked for.
func fakePwned(t *testing.T, breached map[string]int) (*httptest.Server, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		prefix, ok := strings.CutPrefix(r.URL.Path, "/range/")
		if !ok || len(prefix) != 5 || r.Header.Get("Add-Padding") != "true" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		mu.Lock()
		asked = append(asked, prefix)
		mu.Unlock()
		fmt.Fprintf(w, "%s:0\r\n", strings.Repeat("0", 35)) // padding
		for plain, n := range breached {
			sum := sha1.Sum([]byte(plain)) //nolint:gosec // see the import
			digest := strings.ToUpper(hex.EncodeToString(sum[:]))
			if digest[:5] == prefix {
				fmt.Fprintf(w, "%s:%d\r\n", digest[5:], n)
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), asked...)
	}
}

func TestPwned(t *testing.T) {
	t.Parallel()
	srv, asked := fakePwned(t, map[string]int{"correct horse battery staple": 3731})
	p := password.NewPwned(password.PwnedConfig{URL: srv.URL + "/"})
	ctx := context.Background()

	t.Run("Breached", func(t *testing.T) {
		n, err := p.Count(ctx, "correct horse battery staple")
		if err != nil || n != 3731 {
			t.Fatalf("Count = %d, %v; want 3731", n, err)
		}
	})
	t.Run("NotBreached", func(t *testing.T) {
		n, err := p.Count(ctx, "many unrelated words beat one")
		if err != nil || n != 0 {
			t.Fatalf("Count = %d, %v; want 0", n, err)
		}
	})
	t.Run("OnlyThePrefixLeaves", func(t *testing.T) {
		for _, prefix := range asked() {
			if len(prefix) != 5 {
				t.Errorf("asked for %q, want 5 characters of the SHA-1 only", prefix)
			}
		}
	})
	t.Run("Off", func(t *testing.T) {
		if password.NewPwned(password.PwnedConfig{}) != nil {
			t.Error("no URL must turn the check off")
		}
	})
}

func TestPwnedUnreachable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("ServerError", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "down", http.StatusServiceUnavailable)
		}))
		t.Cleanup(srv.Close)
		if _, err := password.NewPwned(password.PwnedConfig{URL: srv.URL}).Count(ctx, "x"); err == nil {
			t.Error("a 503 must be an error (which callers treat as not breached)")
		}
	})
	t.Run("Timeout", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		t.Cleanup(func() { close(release); srv.Close() })
		start := time.Now()
		_, err := password.NewPwned(password.PwnedConfig{URL: srv.URL, Timeout: 50 * time.Millisecond}).Count(ctx, "x")
		if err == nil {
			t.Fatal("a silent server must be an error")
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("took %v, want the timeout to bound it", took)
		}
	})
	t.Run("Closed", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close()
		if _, err := password.NewPwned(password.PwnedConfig{URL: url}).Count(ctx, "x"); err == nil {
			t.Error("a closed port must be an error")
		}
	})
}
