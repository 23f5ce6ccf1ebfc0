// Package redirect decides which redirect_url values PlanoAuth accepts: a session hands its
// redirect_url to the UI, which sends the user there, so an arbitrary value would make
// PlanoAuth an open redirector (or, with javascript:, a script injector).
//
// A redirect URL is accepted when it is absolute, https (or http to a loopback host, for
// development), carries no user info, and its origin is one its application allows: the
// application's allow-list (`planoauth applications redirects`), or, while that list is empty,
// the service's own public origin only. Anything else answers invalid-param on redirect_url.
package redirect

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/plano/planoauth/internal/envelope"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/gen/db"
)

// Param is the parameter every route that takes a redirect URL names it by.
const Param = "redirect_url"

// Origin returns the origin of a URL that may be a redirect target: its scheme and host in
// lower case, and its port unless it is the scheme's default ("https://app.example:8443").
func Origin(raw string) (string, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "", errors.New("is not a URL")
	case !u.IsAbs() || u.Host == "" || u.Opaque != "":
		return "", errors.New("must be an absolute https URL")
	case u.User != nil:
		return "", errors.New("may not carry user info")
	}
	scheme, host, port := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), u.Port()
	switch {
	case scheme == "https":
	case scheme == "http" && loopback(host):
	default:
		return "", errors.New("must be an https URL (or http to a loopback host)")
	}
	if port == defaultPort[scheme] {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host, nil
}

var defaultPort = map[string]string{"https": "443", "http": "80"}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ParseOrigin reads an origin as an operator writes it for an allow-list: an https (or
// loopback http) URL with nothing after its host and port but an optional "/". It returns the
// origin as Origin spells it.
func ParseOrigin(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return "", fmt.Errorf("%q is not an origin (scheme://host[:port], e.g. https://app.example)", s)
	}
	origin, err := Origin(s)
	if err != nil {
		return "", fmt.Errorf("%q: %w", s, err)
	}
	return origin, nil
}

// Checker checks redirect URLs against the applications' allow-lists.
type Checker struct {
	q      *db.Queries
	public string
}

// NewChecker returns a Checker whose default origin is publicURL's (the service's own). A
// public URL that is no possible redirect target, plain http to a host other than loopback (a
// service reached on a LAN address without TLS, such as the URL derived from PLANOAUTH_ADDR
// 192.168.1.5:8080), leaves no default origin: the service runs, and an application without an
// allow-list accepts no redirect URL (DefaultOrigin says so). Only a URL that is not an http(s)
// URL with a host is an error.
func NewChecker(q *db.Queries, publicURL string) (*Checker, error) {
	public, err := Origin(publicURL)
	if err != nil {
		u, parseErr := url.Parse(publicURL)
		if parseErr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("public URL %q: %w", publicURL, err)
		}
		public = ""
	}
	return &Checker{q: q, public: public}, nil
}

// DefaultOrigin is the origin an application without an allow-list accepts redirect URLs to
// (the service's own), or "" when there is none (see NewChecker).
func (c *Checker) DefaultOrigin() string { return c.public }

// Check answers invalid-param on redirect_url unless raw is empty (none given) or a redirect
// target that application allows.
func (c *Checker) Check(ctx context.Context, application, raw string) error {
	if raw == "" {
		return nil
	}
	origin, err := Origin(raw)
	if err != nil {
		return envelope.Param(gen.StatusInvalidParam, Param, err.Error())
	}
	allowed, err := c.q.CheckRedirectOrigin(ctx, db.CheckRedirectOriginParams{Slug: application, Origin: origin})
	if err != nil {
		return envelope.Internal("check the redirect origins of %s: %w", application, err)
	}
	if allowed.Listed || (allowed.Origins == 0 && c.public != "" && origin == c.public) {
		return nil
	}
	return envelope.Param(gen.StatusInvalidParam, Param, "points at an origin the application does not allow")
}
