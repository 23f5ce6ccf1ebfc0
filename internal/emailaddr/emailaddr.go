// Package emailaddr is the one form in which PlanoAuth stores and compares email addresses.
//
// PostgreSQL cannot be trusted to compare them: the private cluster runs without a locale, so
// its lower() folds only ASCII letters, while another server's locale may fold more, or
// differently from Go. So the comparison is made in Go, once, and stored: users.email holds
// Normalize(email), its unique index is on the column itself, and every query compares with
// plain equality against a normalized parameter. Rate-limit keys use the same form.
package emailaddr

import (
	"strings"

	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"
)

// Normalize returns the stored and compared form of an email address: Unicode NFC (so that a
// precomposed "é" and "e" + combining accent are one address), then Go's Unicode lower case
// (strings.ToLower), then NFC again (lower-casing can leave a decomposed sequence), and its
// domain, when it is a valid IDNA name, in its ASCII form (xn--, DomainForm): one domain has two
// spellings, exämple.com and xn--exmple-cua.com, which reach one mailbox and so must be one
// account. The ASCII form is the one DNS and mail know, and the one emails quote (Display): a
// domain whose letters of another script look like Latin ones shows as the other name it is.
// Nothing is trimmed: an address with surrounding space is another string, which registration
// refuses and which matches no stored address. Normalize is idempotent.
func Normalize(email string) string {
	e := norm.NFC.String(strings.ToLower(norm.NFC.String(email)))
	at := strings.LastIndexByte(e, '@')
	if at < 0 {
		return e
	}
	return e[:at+1] + DomainForm(e[at+1:])
}

// Equal reports whether two addresses are the same account's.
func Equal(a, b string) bool { return Normalize(a) == Normalize(b) }

// Mailbox is the mailbox an address most likely delivers to, for telling whether two addresses
// are one person's: the normalized address without its subaddress (a "+tag" at the end of the
// local part, RFC 5233: Gmail, Outlook, Fastmail, Proton and most others deliver it to the
// address without it), with its domain in its ASCII (IDNA) form however it was written, and at
// gmail.com and googlemail.com (one domain) without the dots of the local part, which Gmail
// ignores. It cannot see other ways to one person: a provider's own separator or alias scheme,
// a catch-all domain, or simply a second mailbox. Addresses with one Mailbox reach one mailbox;
// addresses with different ones may still reach one person.
func Mailbox(email string) string {
	e := Normalize(email)
	at := strings.LastIndexByte(e, '@')
	if at < 0 {
		return e
	}
	local, domain := e[:at], e[at+1:]
	if i := strings.IndexByte(local, '+'); i > 0 { // a local part that starts with "+" is all tag: kept
		local = local[:i]
	}
	if domain == "googlemail.com" {
		domain = "gmail.com"
	}
	if domain == "gmail.com" {
		local = strings.ReplaceAll(local, ".", "")
	}
	return local + "@" + domain
}

// Domain is the domain of an address in the form Mailbox compares it (DomainForm), "" for a
// string without "@".
func Domain(email string) string {
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return ""
	}
	return DomainForm(email[at+1:])
}

// DomainForm is the compared form of a domain name: normalized, then in its IDNA ASCII form
// (xn--) when it is a valid IDNA name. One domain has two spellings, Unicode and ASCII: DNS, and
// so mail, knows only the ASCII one.
func DomainForm(domain string) string {
	domain = norm.NFC.String(strings.ToLower(norm.NFC.String(domain)))
	if ascii, err := idna.Lookup.ToASCII(domain); err == nil {
		return strings.ToLower(ascii)
	}
	return domain
}

// SameMailbox reports whether two addresses reach one mailbox (see Mailbox).
func SameMailbox(a, b string) bool { return Mailbox(a) == Mailbox(b) }

// Display is an address as an email's text quotes it: its domain in ASCII (IDNA, so a domain
// with letters of another script that look like Latin ones shows as the xn-- name it is), its
// local part as it is. A domain that is no valid IDNA name shows its raw punycode all the same.
func Display(email string) string {
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return email
	}
	domain, err := idna.Lookup.ToASCII(email[at+1:])
	if err != nil {
		if domain, err = idna.Punycode.ToASCII(email[at+1:]); err != nil {
			return email
		}
	}
	return email[:at+1] + domain
}
