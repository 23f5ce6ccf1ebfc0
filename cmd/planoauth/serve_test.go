package main

import (
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/plano/planoauth/internal/gen"
)

// TestServeOnAnyAddress: serve starts whatever address it listens on. With no
// PLANOAUTH_PUBLIC_URL, the public URL is derived from that address: 127.0.0.1 for an
// unspecified one (0.0.0.0), else plain http to the address itself, which is no possible
// redirect target (https, or http to loopback, only): the service still starts, and an
// application without an allow-list then accepts no redirect URL at all.
func TestServeOnAnyAddress(t *testing.T) {
	t.Parallel()
	d := newTestDB(t, false)
	bin := buildBinary(t)
	cases := map[string][]string{
		"Unspecified":     {"PLANOAUTH_ADDR=0.0.0.0:0"},
		"PlainHTTPPublic": {"PLANOAUTH_PUBLIC_URL=http://192.0.2.10:8080"}, // what a LAN address derives
	}
	if ip := nonLoopbackAddress(); ip != "" {
		cases["NonLoopback"] = []string{"PLANOAUTH_ADDR=" + net.JoinHostPort(ip, "0")}
	}
	for name, env := range cases {
		t.Run(name, func(t *testing.T) {
			in := startServe(t, bin, d.url, env...).wait(t)
			if got := in.status(t, "/api/v1/coexistence/index"); got != gen.StatusMissingParam {
				t.Fatalf("%s answered %s, want %s", in.base, got, gen.StatusMissingParam)
			}
			// A plain-http public origin other than loopback is never a redirect target.
			body := base64.StdEncoding.EncodeToString([]byte(`{"email":"nobody@example.com","password":"x","application":"planoorder",` +
				`"redirect_url":"http://192.0.2.10:8080/app"}`))
			res, err := in.client.Post(in.base+"/api/v1/sessions/create", "text/plain", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var answer struct {
				Status gen.Status
				Errors []gen.ParamError
			}
			if err := json.NewDecoder(res.Body).Decode(&answer); err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != http.StatusBadRequest || answer.Status != gen.StatusInvalidParam ||
				len(answer.Errors) != 1 || answer.Errors[0].Param != "redirect_url" {
				t.Errorf("a plain-http redirect answered %d %s %+v, want invalid-param on redirect_url", res.StatusCode, answer.Status, answer.Errors)
			}
		})
	}
}

// nonLoopbackAddress is an IPv4 address of this machine other than loopback, or "" (in a network
// namespace with loopback only).
func nonLoopbackAddress() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP.String()
		}
	}
	return ""
}
