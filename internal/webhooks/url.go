package webhooks

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
)

// maxURL is the webhooks.url column's limit.
const maxURL = 2048

// CheckURL says what is wrong with a delivery URL, or nil: an absolute https URL, or http to a
// loopback address (a receiver on the same machine, as in development and tests), without
// credentials or a fragment. PlanoAuth connects wherever an operator points it, private
// addresses included: only operators (with the database's credentials) set these URLs, never an
// API caller, and deliveries follow no redirects, so a receiver cannot send them on elsewhere.
func CheckURL(raw string) error {
	if len(raw) > maxURL {
		return fmt.Errorf("is longer than %d characters", maxURL)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("is not a URL: %w", err)
	}
	switch {
	case u.Host == "" || u.Hostname() == "":
		return errors.New("must be absolute, with a host")
	case u.User != nil:
		return errors.New("must not carry credentials (they would be stored and shown in clear)")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return errors.New("must not have a fragment")
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && loopback(u.Hostname()):
		return nil
	case u.Scheme == "http":
		return errors.New("must use https (plain http only to a loopback address such as 127.0.0.1)")
	}
	return fmt.Errorf("must be an https URL, not %q", u.Scheme)
}

func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.Unmap().IsLoopback()
}

// hostOf is the host of a delivery URL, for notifications: the path and query may carry a
// receiver's own credentials.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}
