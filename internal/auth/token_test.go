package auth_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/params"
)

// exampleToken is a session token as NewToken makes them; seeds must not change between runs.
const exampleToken = "pas_q1J8Yp0sV2Gm3C9x4kA7dWfL5eN6tHzR0uBiOjMnKcE"

var prefixes = []string{auth.ApplicationPrefix, auth.SessionPrefix, auth.MagicLinkPrefix}

func TestNewToken(t *testing.T) {
	for _, prefix := range prefixes {
		t.Run(prefix, func(t *testing.T) {
			seen := map[string]bool{}
			for range 200 {
				token, hash := auth.NewToken(prefix)
				if !auth.WellFormed(token, prefix) {
					t.Fatalf("NewToken made %q, which WellFormed refuses", token)
				}
				if sum := sha256.Sum256([]byte(token)); !bytes.Equal(hash, sum[:]) {
					t.Fatalf("hash of %q is not its SHA-256", token)
				}
				if seen[token] {
					t.Fatalf("NewToken repeated %q", token)
				}
				seen[token] = true
			}
		})
	}
}

// TestNewCode checks that codes are CodeDigits decimal digits, leading zeros kept, and that
// every digit shows in every position (a uniform source misses one in 3,000 codes with a
// chance below 10^-130).
func TestNewCode(t *testing.T) {
	var seen [auth.CodeDigits][10]bool
	for range 3000 {
		code := auth.NewCode()
		if len(code) != auth.CodeDigits {
			t.Fatalf("NewCode made %q, want %d digits", code, auth.CodeDigits)
		}
		for i, c := range code {
			if c < '0' || c > '9' {
				t.Fatalf("NewCode made %q, want digits only", code)
			}
			seen[i][c-'0'] = true
		}
	}
	for i, digits := range seen {
		for d, ok := range digits {
			if !ok {
				t.Errorf("digit %d never came in position %d", d, i)
			}
		}
	}
}

// FuzzWellFormed checks WellFormed against a definition written out independently of the
// encoding package: the prefix, then exactly the 43 characters of RawURLEncoding that 32 bytes
// encode to. Anything else (other characters, padding, new lines that a base64 decoder would
// skip, a last character with bits set beyond the 256th) is refused without a database trip.
func FuzzWellFormed(f *testing.F) {
	token := exampleToken
	body := strings.TrimPrefix(token, auth.SessionPrefix)
	for _, seed := range []string{
		token,
		auth.ApplicationPrefix + body,
		body,
		token + "=",
		token[:len(token)-1],
		token[:len(token)-1] + "B", // the last character carries 4 bits beyond the 256th
		token[:len(token)-1] + "\n",
		token[:len(token)-2] + "\r\n",
		strings.ReplaceAll(token, "-", "+"),
		auth.SessionPrefix + strings.Repeat("A", 43),
		auth.SessionPrefix + strings.Repeat("_", 43),
		"",
	} {
		f.Add(seed, uint8(1))
	}
	f.Fuzz(func(t *testing.T, token string, which uint8) {
		prefix := prefixes[int(which)%len(prefixes)]
		if got, want := auth.WellFormed(token, prefix), wellFormed(token, prefix); got != want {
			t.Fatalf("WellFormed(%q, %q) = %v, want %v", token, prefix, got, want)
		}
	})
}

// wellFormed is the definition FuzzWellFormed holds WellFormed to.
func wellFormed(token, prefix string) bool {
	body, ok := strings.CutPrefix(token, prefix)
	if !ok || len(body) != 43 {
		return false
	}
	for _, c := range []byte(body) {
		if !isBase64URL(c) {
			return false
		}
	}
	// 43 characters carry 258 bits: the last one's two low bits must be zero, which leaves
	// the characters whose index in the alphabet is a multiple of 4.
	return strings.IndexByte(base64URLAlphabet, body[42])%4 == 0
}

const base64URLAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

func isBase64URL(c byte) bool { return strings.IndexByte(base64URLAlphabet, c) >= 0 }

func TestTokenFromRequest(t *testing.T) {
	const header, query, body = "pas_header", "pas_query", "pas_body"
	tests := []struct {
		name          string
		authorization string
		rawQuery      string
		body          string
		want          string
	}{
		{"OKHeaderFirst", "Bearer " + header, "token=" + query, `{"token":"` + body + `"}`, header},
		{"OKSchemeAnyCase", "bearer  " + header + " ", "", "", header},
		{"OKQuerySecond", "", "token=" + query, `{"token":"` + body + `"}`, query},
		{"OKOtherSchemeSkipped", "Basic dXNlcjpwYXNz", "token=" + query, "", query},
		{"OKBodyLast", "", "other=1", `{"token":"` + body + `"}`, body},
		{"ErrNone", "", "", `{"email":"ada@example.com"}`, ""},
		{"ErrBodyTokenNotAString", "", "", `{"token":7}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRequest(tt.authorization, tt.rawQuery, []byte(tt.body))
			if got := auth.TokenFromRequest(r); got != tt.want {
				t.Errorf("TokenFromRequest = %q, want %q", got, tt.want)
			}
		})
	}
}

// FuzzTokenFromRequest gives TokenFromRequest arbitrary headers, query strings and bodies: it
// must not panic, and a token it returns must be one that the request carried in one of the
// three documented places, never something made up from several of them.
func FuzzTokenFromRequest(f *testing.F) {
	token := exampleToken
	f.Add("Bearer "+token, "", []byte(nil))
	f.Add("bearer \t"+token+" ", "token=x", []byte(`{"token":"y"}`))
	f.Add("Basic abc", "token="+token+"&token=2", []byte(nil))
	f.Add("", "token=%zz;token=a", []byte(`{"token":"`+token+`"}`))
	f.Add("", "", []byte(`{"token":"\u0070as_","token":null}`))
	f.Add("Bearer", "token=", []byte(`[{"token":"x"}]`))
	f.Fuzz(func(t *testing.T, authorization, rawQuery string, body []byte) {
		r := newRequest(authorization, rawQuery, body)
		got := auth.TokenFromRequest(r)
		if got == "" {
			return
		}
		if !fromHeader(authorization, got) && !fromQuery(rawQuery, got) && !fromBody(body, got) {
			t.Fatalf("token %q is in none of header %q, query %q, body %q", got, authorization, rawQuery, body)
		}
	})
}

func newRequest(authorization, rawQuery string, body []byte) *http.Request {
	r := &http.Request{Method: http.MethodPost, URL: &url.URL{Path: "/", RawQuery: rawQuery}, Header: http.Header{}}
	if authorization != "" {
		r.Header.Set("Authorization", authorization)
	}
	ctx := context.Background()
	if parsed, err := params.Object(body); err == nil {
		ctx = params.NewContext(ctx, parsed)
	}
	return r.WithContext(ctx)
}

func fromHeader(authorization, token string) bool {
	return strings.HasSuffix(strings.TrimSpace(authorization), token)
}

func fromQuery(rawQuery, token string) bool {
	values, _ := url.ParseQuery(rawQuery) // keeps the pairs it can parse, as URL.Query does
	for _, v := range values["token"] {
		if v == token {
			return true
		}
	}
	return false
}

// fromBody reports whether a "token" member of the body object holds token. It reads every
// member, as a repeated key may leave an earlier value in place.
func fromBody(body []byte, token string) bool {
	d := json.NewDecoder(bytes.NewReader(body))
	if open, err := d.Token(); err != nil || open != json.Delim('{') {
		return false
	}
	for d.More() {
		key, err := d.Token()
		var value json.RawMessage
		if err != nil || d.Decode(&value) != nil {
			return false
		}
		var s string
		if name, _ := key.(string); name == "token" && json.Unmarshal(value, &s) == nil && s == token {
			return true
		}
	}
	return false
}
