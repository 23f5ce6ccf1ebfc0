package impl_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
)

// PKCE (RFC 7636, S256) for the sign-in token a link's page hands the redirect URL: whoever
// reads that URL first (another app registered for the same custom scheme, an extension, a
// proxy, the history) must get no session from it without the application's verifier.

const pkceRedirect = "http://127.0.0.1:8080/welcome"

// pkcePair is a new verifier and its S256 challenge.
func pkcePair(t *testing.T) (verifier, challenge string) {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	verifier = base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// exchangeFrom is the request an application (or an interceptor) at address makes to exchange
// a token, with a verifier when one is given.
func exchangeFrom(t *testing.T, address, token, verifier string) *http.Request {
	t.Helper()
	params := map[string]any{"magic_token": token, "application": "planoorder"}
	if verifier != "" {
		params["code_verifier"] = verifier
	}
	req := apitest.Request(http.MethodPost, magicLinkCreate, "text/plain", apitest.Sensitive(t, params), "")
	req.RemoteAddr = address + ":1234"
	return req
}

// signInHandover requests a sign-in link for email (with challenge, when given), presses its
// page's button and returns the token the page handed the redirect URL.
func signInHandover(t *testing.T, env *apitest.Env, email, challenge string) string {
	t.Helper()
	params := map[string]any{"email": email, "application": "planoorder", "redirect_url": pkceRedirect}
	if challenge != "" {
		params["code_challenge"] = challenge
	}
	jsonFrom(env, addr(1), magicLinkRequest, params).Expect(t, 200, gen.StatusActionSuccessful)
	rec := openPage(env, http.MethodPost, "/magic", url.Values{"token": {lastLinkToken(t, env, email)}}, sameOrigin)
	return handoverToken(t, rec.Code, rec.Header().Get("Location"))
}

// handoverToken is the token of a page's 303 to the redirect URL.
func handoverToken(t *testing.T, code int, location string) string {
	t.Helper()
	next, err := url.Parse(location)
	if code != http.StatusSeeOther || err != nil || !strings.HasPrefix(location, pkceRedirect+"?") || next.Query().Get("magic_token") == "" {
		t.Fatalf("the page answered %d to %q, want 303 to %s with a magic_token", code, location, pkceRedirect)
	}
	return next.Query().Get("magic_token")
}

// expectParam fails unless res names exactly param.
func expectParam(t *testing.T, res *apitest.Response, param string) {
	t.Helper()
	if got := res.Params(); !slices.Equal(got, []string{param}) {
		t.Errorf("params %v, want [%s]", got, param)
	}
}

// refusedVerifier fails unless res refused the verifier given for token (status on
// code_verifier) and left the token usable.
func refusedVerifier(t *testing.T, env *apitest.Env, res *apitest.Response, status gen.Status, token string) {
	t.Helper()
	res.Expect(t, 400, status)
	expectParam(t, res, "code_verifier")
	if linkUsed(t, env, token) {
		t.Fatal("a refused verifier used the token")
	}
}

func TestPKCEInterceptorGetsNoSession(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := env.User("ada@example.com", password, "client")
	verifier, challenge := pkcePair(t)
	token := signInHandover(t, env, "ada@example.com", challenge)
	other, _ := pkcePair(t)

	// The interceptor has the URL, not the verifier: no session, and the token is left to the
	// application (it cannot use it up either).
	refusedVerifier(t, env, env.Do(exchangeFrom(t, addr(9), token, "")), gen.StatusMissingParam, token)
	refusedVerifier(t, env, env.Do(exchangeFrom(t, addr(9), token, other)), gen.StatusInvalidParam, token)
	// The verifier comes before the password given with the token: no password oracle.
	refusedVerifier(t, env, env.PostSensitive(magicLinkCreate, map[string]any{"magic_token": token, "application": "planoorder",
		"password": "not-ada's-password"}, ""), gen.StatusMissingParam, token)
	// Nor is it a link a page takes, where it would be used up.
	expectPage(t, openPage(env, http.MethodGet, "/magic?token="+token, nil, nil), 404, "This link does not work")
	expectPage(t, openPage(env, http.MethodPost, "/magic", url.Values{"token": {token}}, sameOrigin), 404, "This link does not work")
	if linkUsed(t, env, token) || sessionsOf(t, env, ada) != 0 {
		t.Fatal("a refused verifier used the token or opened a session")
	}
	// Each refusal is a failed sign-in by link, in the trail.
	var failed []string
	rows, err := env.Pool.Query(context.Background(),
		"SELECT details->>'reason' FROM audit_events WHERE kind = 'login.failed' AND details->>'method' = 'magic_link' ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			t.Fatal(err)
		}
		failed = append(failed, r)
	}
	if want := []string{"missing-param", "invalid-param", "missing-param"}; !slices.Equal(failed, want) {
		t.Errorf("login.failed reasons %v, want %v", failed, want)
	}

	// The application holds the verifier: its session, once.
	var s gen.Session
	env.Do(exchangeFrom(t, addr(2), token, verifier)).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &s)
	if s.User == nil || s.User.Email != "ada@example.com" {
		t.Errorf("session = %+v, want ada's", s)
	}
	env.Do(exchangeFrom(t, addr(2), token, verifier)).Expect(t, 401, gen.StatusLinkUsed)
	env.Do(exchangeFrom(t, addr(9), token, "")).Expect(t, 401, gen.StatusLinkUsed)
	if n := sessionsOf(t, env, ada); n != 1 {
		t.Errorf("%d sessions, want 1", n)
	}
}

// A reset requested with a challenge hands over a token bound to it too.
func TestPKCEResetHandover(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	verifier, challenge := pkcePair(t)
	jsonFrom(env, addr(1), resetRequest, map[string]any{"email": "ada@example.com", "application": "planoorder",
		"redirect_url": pkceRedirect, "code_challenge": challenge}).Expect(t, 200, gen.StatusActionSuccessful)
	mail := lastReset(t, env, "ada@example.com")
	rec := openPage(env, http.MethodPost, "/reset", url.Values{"token": {mail.token}, "password": {newPassword},
		"password_repeat": {newPassword}}, sameOrigin)
	token := handoverToken(t, rec.Code, rec.Header().Get("Location"))
	refusedVerifier(t, env, env.Do(exchangeFrom(t, addr(9), token, "")), gen.StatusMissingParam, token)
	env.Do(exchangeFrom(t, addr(2), token, verifier)).Expect(t, 200, gen.StatusActionSuccessful)
}

// Malformed challenges and verifiers are refused as the contract says, and change nothing.
func TestPKCERefusesMalformed(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	verifier, challenge := pkcePair(t)
	for _, route := range []string{magicLinkRequest, resetRequest} {
		// A plain verifier given as the challenge: the wrong length, or alphabet.
		for _, bad := range []string{verifier + "xyz", challenge[:42], challenge[:42] + "=", strings.Repeat("a", 128)} {
			res := jsonFrom(env, addr(3), route, map[string]any{"email": "ada@example.com", "application": "planoorder",
				"redirect_url": pkceRedirect, "code_challenge": bad})
			res.Expect(t, 400, gen.StatusInvalidParam)
			expectParam(t, res, "code_challenge")
		}
		// Nothing to bind without a redirect URL.
		res := jsonFrom(env, addr(3), route, map[string]any{"email": "ada@example.com", "application": "planoorder",
			"code_challenge": challenge})
		res.Expect(t, 400, gen.StatusInvalidParam)
		expectParam(t, res, "code_challenge")
	}
	env.Server.Wait()
	var links int
	if err := env.Pool.QueryRow(context.Background(), "SELECT count(*) FROM magic_links").Scan(&links); err != nil {
		t.Fatal(err)
	}
	if links != 0 {
		t.Errorf("%d links stored by refused requests, want none", links)
	}

	token := signInHandover(t, env, "ada@example.com", challenge)
	for _, bad := range []string{verifier[:42], verifier + strings.Repeat("a", 86), strings.Repeat("a", 42) + "!"} {
		refusedVerifier(t, env, env.Do(exchangeFrom(t, addr(4), token, bad)), gen.StatusInvalidParam, token)
	}
	// A code is no hand-over: no verifier with it.
	refusedVerifier(t, env, env.PostSensitive(magicLinkCreate, map[string]any{"email": "ada@example.com", "code": "12345678",
		"code_verifier": verifier, "application": "planoorder"}, ""), gen.StatusInvalidParam, token)
	env.Do(exchangeFrom(t, addr(2), token, verifier)).Expect(t, 200, gen.StatusActionSuccessful)
}

// A token without a challenge works as before; given a verifier, it is refused and left
// usable (an application that sent a challenge was handed someone else's token). An emailed
// link's own token is no hand-over: unchanged.
func TestPKCEWithoutChallenge(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	verifier, challenge := pkcePair(t)

	token := signInHandover(t, env, "ada@example.com", "")
	refusedVerifier(t, env, env.Do(exchangeFrom(t, addr(2), token, verifier)), gen.StatusInvalidParam, token)
	env.Do(exchangeFrom(t, addr(2), token, "")).Expect(t, 200, gen.StatusActionSuccessful)

	jsonFrom(env, addr(1), magicLinkRequest, map[string]any{"email": "ada@example.com", "application": "planoorder",
		"redirect_url": pkceRedirect, "code_challenge": challenge}).Expect(t, 200, gen.StatusActionSuccessful)
	emailed := lastLinkToken(t, env, "ada@example.com")
	refusedVerifier(t, env, env.Do(exchangeFrom(t, addr(2), emailed, verifier)), gen.StatusInvalidParam, emailed)
	env.Do(exchangeFrom(t, addr(2), emailed, "")).Expect(t, 200, gen.StatusActionSuccessful)
}

// Exchanges of one token at once, from several addresses, right and wrong verifiers: one
// session at most, and the right verifier gets it unless the other right one did.
func TestPKCEConcurrentExchanges(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := env.User("ada@example.com", password, "client")
	for round := range 3 {
		verifier, challenge := pkcePair(t)
		wrong, _ := pkcePair(t)
		token := signInHandover(t, env, "ada@example.com", challenge)
		before := sessionsOf(t, env, ada)
		flights := []*apitest.InFlight{
			env.Start(exchangeFrom(t, addr(10), token, wrong)),
			env.Start(exchangeFrom(t, addr(11), token, verifier)),
			env.Start(exchangeFrom(t, addr(12), token, "")),
			env.Start(exchangeFrom(t, addr(13), token, verifier)),
			env.Start(exchangeFrom(t, addr(14), token, wrong)),
		}
		var ok, used int
		for i, f := range flights {
			res := f.Wait()
			switch {
			case i == 1 || i == 3:
				if res.Code == 200 {
					ok++
				} else {
					res.Expect(t, 401, gen.StatusLinkUsed)
					used++
				}
			case res.Code == 401: // after the right verifier used it
				res.Expect(t, 401, gen.StatusLinkUsed)
			case i == 2:
				res.Expect(t, 400, gen.StatusMissingParam)
			default:
				res.Expect(t, 400, gen.StatusInvalidParam)
			}
		}
		if ok != 1 || used != 1 {
			t.Errorf("round %d: %d sessions and %d link-used for the right verifier, want 1 and 1", round, ok, used)
		}
		if n := sessionsOf(t, env, ada) - before; n != 1 {
			t.Errorf("round %d: %d new sessions, want 1", round, n)
		}
	}
}
