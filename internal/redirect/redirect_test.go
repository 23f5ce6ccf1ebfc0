package redirect_test

import (
	"testing"

	"github.com/plano/planoauth/internal/redirect"
)

func TestOrigin(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"https://App.Example/welcome?x=1#top", "https://app.example"},
		{"https://app.example:443/", "https://app.example"},
		{"https://app.example:8443/a", "https://app.example:8443"},
		{"http://127.0.0.1:3000/cb", "http://127.0.0.1:3000"},
		{"http://localhost/cb", "http://localhost"},
		{"http://[::1]:8080/", "http://[::1]:8080"},
	} {
		got, err := redirect.Origin(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("Origin(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{
		"javascript:alert(1)", "JAVASCRIPT://app.example/%0aalert(1)", "data:text/html,hi", "//app.example/x", "/welcome",
		"http://app.example/", "http://127.0.0.1.evil.example/", "https://user:pw@app.example/", "https:///x",
		"ftp://app.example/", "https:app.example", "",
	} {
		if got, err := redirect.Origin(bad); err == nil {
			t.Errorf("Origin(%q) = %q, want an error", bad, got)
		}
	}
}

func TestParseOrigin(t *testing.T) {
	t.Parallel()
	if got, err := redirect.ParseOrigin("HTTPS://Order.Example/"); err != nil || got != "https://order.example" {
		t.Errorf("ParseOrigin = %q, %v", got, err)
	}
	for _, bad := range []string{"https://order.example/welcome", "https://order.example?x", "order.example", "http://order.example"} {
		if _, err := redirect.ParseOrigin(bad); err == nil {
			t.Errorf("ParseOrigin(%q) accepted", bad)
		}
	}
}
