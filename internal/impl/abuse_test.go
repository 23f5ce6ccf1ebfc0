package impl_test

// The attacks of issue 11, each from the HTTP API with the callers' own client addresses.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/impl"
	"github.com/plano/planoauth/internal/limits"
	argon "github.com/plano/planoauth/internal/password"
)

// addr is the client address of the n-th caller of a test.
func addr(n int) string { return fmt.Sprintf("127.0.0.%d", n) }

// postFrom posts params from a client address: as a sensitive body to the routes that take one,
// as JSON to the others.
func postFrom(env *apitest.Env, address, path string, params any, token string) *apitest.Response {
	env.T.Helper()
	var req *http.Request
	if path == magicLinkRequest {
		b, err := json.Marshal(params)
		if err != nil {
			env.T.Fatal(err)
		}
		req = apitest.Request(http.MethodPost, path, "application/json", b, token)
	} else {
		req = apitest.Request(http.MethodPost, path, "text/plain", apitest.Sensitive(env.T, params), token)
	}
	req.RemoteAddr = address + ":1234"
	return env.Do(req)
}

// deviceToken reads the device token a sign-in answered with ("" when there is none).
func deviceToken(t *testing.T, res *apitest.Response) string {
	t.Helper()
	var data struct {
		DeviceToken string `json:"device_token"`
	}
	res.Data(t, &data)
	return data.DeviceToken
}

// answers counts the answers by "code slug".
type answers struct {
	mu     sync.Mutex
	counts map[string]int
}

func (a *answers) add(res *apitest.Response) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.counts == nil {
		a.counts = map[string]int{}
	}
	a.counts[fmt.Sprintf("%d %s", res.Code, res.Status())]++
}

func (a *answers) String() string { return fmt.Sprint(a.counts) }

// concurrently sends n requests at once (do(i) sends the i-th) and counts their answers.
func concurrently(n int, do func(i int) *apitest.Response) *answers {
	var got answers
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			got.add(do(i))
		})
	}
	close(start)
	wg.Wait()
	return &got
}

// Thirty wrong passwords sent at once from ten other addresses must not keep the owner out: from
// the address it signed in from before, or with the device token it got then, the right password
// works. Only ten of the thirty guesses are evaluated.
func TestStrangersCannotLockTheOwnerOut(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	right := map[string]any{"email": "ada@example.com", "password": password, "application": "planoorder"}
	wrong := map[string]any{"email": "ada@example.com", "password": "a guess", "application": "planoorder"}
	home := postFrom(env, addr(1), sessionsCreate, right, "").Expect(t, 200, gen.StatusActionSuccessful)
	device := deviceToken(t, home)
	if device == "" {
		t.Fatalf("the sign-in answered no device token: %s", home.Raw)
	}

	got := concurrently(30, func(i int) *apitest.Response { return postFrom(env, addr(2+i%10), sessionsCreate, wrong, "") })
	if want := "map[400 invalid-password:10 429 rate-limited:20]"; got.String() != want {
		t.Errorf("strangers' guesses answered %s, want %s (10 evaluated, then throttled)", got.String(), want)
	}
	t.Run("ErrStrangerThrottled", func(t *testing.T) {
		postFrom(env, addr(40), sessionsCreate, right, "").Expect(t, 429, gen.StatusRateLimited)
	})
	t.Run("OKFromTheOwnersAddress", func(t *testing.T) {
		postFrom(env, addr(1), sessionsCreate, right, "").Expect(t, 200, gen.StatusActionSuccessful)
	})
	t.Run("OKWithTheDeviceToken", func(t *testing.T) {
		withDevice := map[string]any{"email": "ada@example.com", "password": password, "application": "planoorder", "device_token": device}
		postFrom(env, addr(41), sessionsCreate, withDevice, "").Expect(t, 200, gen.StatusActionSuccessful)
	})
}

// Six link requests by strangers must not keep the owner from getting a sign-in link.
func TestStrangersCannotLockTheOwnerOutOfLinks(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	link := map[string]any{"email": "ada@example.com", "application": "planoorder"}
	postFrom(env, addr(1), sessionsCreate, map[string]any{"email": "ada@example.com", "password": password, "application": "planoorder"}, "").
		Expect(t, 200, gen.StatusActionSuccessful)
	var got answers
	for i := range 6 {
		got.add(postFrom(env, addr(2+i), magicLinkRequest, link, ""))
	}
	if want := "map[200 action-successful:5 429 rate-limited:1]"; got.String() != want {
		t.Errorf("strangers' link requests answered %s, want %s", got.String(), want)
	}
	postFrom(env, addr(1), magicLinkRequest, link, "").Expect(t, 200, gen.StatusActionSuccessful)
}

// One address may not make the service email sign-in links to any number of addresses.
func TestLinkRequestsLimitedPerAddress(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	for i := range 40 {
		env.User(fmt.Sprintf("user%d@example.com", i), "", "client")
	}
	got := concurrently(40, func(i int) *apitest.Response {
		return postFrom(env, addr(1), magicLinkRequest, map[string]any{"email": fmt.Sprintf("user%d@example.com", i), "application": "planoorder"}, "")
	})
	if want := "map[200 action-successful:20 429 rate-limited:20]"; got.String() != want {
		t.Errorf("link requests from one address answered %s, want %s", got.String(), want)
	}
	if n := countRows(t, env, "sent_emails"); n != 20 {
		t.Errorf("%d links emailed, want 20", n)
	}
}

// Sixty registrations at once from one address must not pass its limit of thirty.
func TestRegistrationLimitHoldsUnderConcurrency(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		d.Hasher.QueueBudget = time.Minute // every admitted registration waits its turn: none is shed
	}))
	got := concurrently(60, func(i int) *apitest.Response {
		return postFrom(env, addr(1), clientsRegister, registration(fmt.Sprintf("client%d@example.com", i)), "")
	})
	if n := countRows(t, env, "users"); n != 30 {
		t.Errorf("%d accounts registered, want 30 (answers %s)", n, got.String())
	}
	if want := "map[200 action-successful:30 429 rate-limited:30]"; got.String() != want {
		t.Errorf("answers = %s, want %s", got.String(), want)
	}
}

// A liaison registration hashes a password and queues an email: a caller may not do it without
// end, nor may one address with many sessions.
func TestLiaisonsRegisterLimited(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	ada := env.Login("ada@example.com", password, "planoorder")
	adaClient := clientIDOf(t, env, "ada@example.com")
	var got answers
	for i := range 31 {
		got.add(postFrom(env, addr(1+i), liaisonsRegister, map[string]any{
			"liaison":    map[string]any{"email": fmt.Sprintf("lia%d@example.com", i)},
			"client_ids": []int64{adaClient},
		}, ada))
	}
	if want := "map[200 action-successful:30 429 rate-limited:1]"; got.String() != want {
		t.Errorf("one caller's liaison registrations answered %s, want %s", got.String(), want)
	}
}

// The liaison limits hold under concurrency, per caller (whatever its addresses) and per
// address (whatever its callers).
func TestLiaisonsRegisterLimitedConcurrently(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		d.Limits.Liaisons = limits.Quota{PerCaller: 5, PerAddress: 8, Window: time.Hour}
	}))
	callers := map[string]string{}
	grants := map[string]int64{}
	for _, name := range []string{"ada", "bob", "cy"} {
		email := name + "@example.com"
		env.User(email, password, "client")
		callers[name], grants[name] = env.Login(email, password, "planoorder"), clientIDOf(t, env, email)
	}
	register := func(caller, address string, i int) *apitest.Response {
		return postFrom(env, address, liaisonsRegister, map[string]any{
			"liaison": map[string]any{"email": fmt.Sprintf("%s-lia%d@example.com", caller, i)}, "client_ids": []int64{grants[caller]},
		}, callers[caller])
	}
	t.Run("PerCaller", func(t *testing.T) {
		got := concurrently(20, func(i int) *apitest.Response { return register("ada", addr(1+i), i) }).String()
		if want := "map[200 action-successful:5 429 rate-limited:15]"; got != want {
			t.Errorf("one caller from 20 addresses: %s, want %s", got, want)
		}
	})
	t.Run("PerAddress", func(t *testing.T) {
		got := concurrently(20, func(i int) *apitest.Response { return register([]string{"bob", "cy"}[i%2], addr(100), i) }).String()
		if want := "map[200 action-successful:8 429 rate-limited:12]"; got != want {
			t.Errorf("two callers from one address: %s, want %s", got, want)
		}
	})
	if n := countRows(t, env, "liaisons"); n != 13 {
		t.Errorf("%d liaisons registered, want 13", n)
	}
}

// An email a stranger makes the service send quotes no text the stranger chose beyond a short
// plain name.
func TestEmailsQuoteNoStrangersText(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	spam := "Win a prize at https://spam.example now"
	params := registration("victim@example.com")
	params["client"].(map[string]any)["first_name"] = spam
	env.PostSensitive(clientsRegister, params, "").Expect(t, 200, gen.StatusActionSuccessful)
	requestLink(env, "victim@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
	rows, err := env.Pool.Query(t.Context(), "SELECT kind, body_text || body_html || subject FROM email_outbox UNION ALL SELECT kind, body_text || body_html || subject FROM sent_emails")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := 0
	for rows.Next() {
		var kind, text string
		if err := rows.Scan(&kind, &text); err != nil {
			t.Fatal(err)
		}
		seen++
		if strings.Contains(text, "spam.example") || strings.Contains(text, "prize") {
			t.Errorf("the %s email quotes the registrant's text:\n%s", kind, text)
		}
	}
	if seen != 2 {
		t.Errorf("%d emails, want the welcome and the link", seen)
	}
}

// redirect_url is handed to the UI: every route that takes one accepts only an origin its
// application allows, and a refused one changes nothing.
func TestRedirectURLOnlyToAllowedOrigins(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	routes := map[string]map[string]any{
		sessionsCreate:   {"email": "ada@example.com", "password": password, "application": "planoorder"},
		magicLinkRequest: {"email": "ada@example.com", "application": "planoorder"},
		sessionsGoogle:   {"id_token": "not checked: the redirect is refused first", "application": "planoorder"},
	}
	with := func(params map[string]any, url string) map[string]any {
		out := map[string]any{"redirect_url": url}
		for k, v := range params {
			out[k] = v
		}
		return out
	}
	refuse := func(t *testing.T, url string) {
		t.Helper()
		for path, params := range routes {
			res := postFrom(env, addr(1), path, with(params, url), "").Expect(t, 400, gen.StatusInvalidParam)
			if got := res.Params(); len(got) != 1 || got[0] != "redirect_url" {
				t.Errorf("%s: errors = %v, want [redirect_url]", path, got)
			}
		}
	}
	accept := func(t *testing.T, url string) {
		t.Helper()
		postFrom(env, addr(1), sessionsCreate, with(routes[sessionsCreate], url), "").Expect(t, 200, gen.StatusActionSuccessful)
		postFrom(env, addr(1), magicLinkRequest, with(routes[magicLinkRequest], url), "").Expect(t, 200, gen.StatusActionSuccessful)
	}
	for _, url := range []string{"javascript:alert(document.cookie)", "JavaScript://x/%0aalert(1)", "data:text/html,<script>alert(1)</script>",
		"https://evil.example/phish", "//evil.example/", "http://order.example/", "https://user:pw@127.0.0.1:8080/", "/relative"} {
		t.Run("ErrNoAllowList/"+url, func(t *testing.T) { refuse(t, url) })
	}
	t.Run("ErrChangedNothing", func(t *testing.T) {
		for table, want := range map[string]int{"sessions": 0, "magic_links": 0, "sent_emails": 0, "limit_counters": 0} {
			if n := countRows(t, env, table); n != want {
				t.Errorf("%d rows in %s after refused redirects, want %d", n, table, want)
			}
		}
	})
	t.Run("OKSameOriginAsTheService", func(t *testing.T) { accept(t, impl.DefaultPublicURL+"/welcome") })
	env.AllowRedirectOrigin("planoorder", "https://order.example")
	t.Run("OKAllowedOrigin", func(t *testing.T) { accept(t, "https://order.example/welcome?step=2") })
	for _, url := range []string{"https://order.example.evil.example/", "https://order.example:8443/", impl.DefaultPublicURL + "/welcome"} {
		t.Run("ErrOtherOrigin/"+url, func(t *testing.T) { refuse(t, url) })
	}
	t.Run("ErrOtherApplicationsOrigin", func(t *testing.T) {
		res := postFrom(env, addr(1), sessionsCreate, map[string]any{"email": "ada@example.com", "password": password,
			"application": "planoauth", "redirect_url": "https://order.example/"}, "")
		res.Expect(t, 400, gen.StatusInvalidParam)
	})
}

// metric reads one counter of the service's /metrics.
func metric(t *testing.T, env *apitest.Env, name string) float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	env.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for line := range strings.Lines(rec.Body.String()) {
		if value, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("no %s in /metrics:\n%s", name, rec.Body.String())
	return 0
}

// A registration of a taken email is answered before any password is hashed, and counts
// nothing against the address.
func TestDuplicateRegistrationCostsNoHash(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		d.Limits.Registrations = limits.AddressQuota{PerAddress: 1, Window: time.Hour}
	}))
	env.User("taken@example.com", "", "client")
	hashes := metric(t, env, "planoauth_password_hashes_total")
	for range 3 {
		postFrom(env, addr(1), clientsRegister, registration("TAKEN@example.com"), "").Expect(t, 400, gen.StatusEmailAlreadyRegistered)
	}
	if got := metric(t, env, "planoauth_password_hashes_total"); got != hashes {
		t.Errorf("%v passwords hashed for taken emails, want none", got-hashes)
	}
	postFrom(env, addr(1), clientsRegister, registration("free@example.com"), "").Expect(t, 200, gen.StatusActionSuccessful)
	if got := metric(t, env, "planoauth_password_hashes_total"); got != hashes+1 {
		t.Errorf("%v passwords hashed for one registration, want 1", got-hashes)
	}
}

// More logins than can be hashed within the queue's budget: the excess is refused at once with
// rate-limited and Retry-After, and every admitted login succeeds.
func TestHashQueueShedsTheExcess(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		// One hash at a time and no room to wait: a login arriving while one hashes is refused.
		d.Hasher = argon.Config{Slots: 1, QueueBudget: time.Nanosecond}
		d.Limits.SignIn = limits.Throttle{PerAccount: 1000, PerKnown: 1000, PerAddress: 1000, Window: time.Hour}
		d.Limits.SignedIn = limits.SuccessQuota{PerAccount: 1000, Window: time.Hour}
	}))
	env.User("ada@example.com", password, "client")
	right := map[string]any{"email": "ada@example.com", "password": password, "application": "planoorder"}
	const logins = 40
	var got answers
	var wg sync.WaitGroup
	start := make(chan struct{})
	retryAfter := make(chan string, logins)
	for i := range logins {
		wg.Go(func() {
			<-start
			res := postFrom(env, addr(1+i), sessionsCreate, right, "")
			got.add(res)
			if res.Status() == gen.StatusRateLimited {
				retryAfter <- res.Header.Get("Retry-After")
			}
		})
	}
	close(start)
	wg.Wait()
	close(retryAfter)
	ok, shed := got.counts["200 action-successful"], got.counts["429 rate-limited"]
	if ok == 0 || shed == 0 || ok+shed != logins {
		t.Errorf("answers = %s, want some admitted and the rest shed", got.String())
	}
	for header := range retryAfter {
		if header != "1" {
			t.Errorf("Retry-After = %q, want 1", header)
		}
	}
	if got := metric(t, env, "planoauth_password_shed_total"); got != float64(shed) {
		t.Errorf("shed metric = %v, want %d", got, shed)
	}
	// A shed login evaluated no password: it spent nothing of anyone's allowance.
	postFrom(env, addr(1), sessionsCreate, right, "").Expect(t, 200, gen.StatusActionSuccessful)
}

// Emails are one account whatever their case or Unicode form: Go decides the form
// (emailaddr.Normalize), the database stores it and compares by equality.
func TestNonASCIIEmailsAreOneAccount(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		d.Limits.Registrations = limits.AddressQuota{PerAddress: 100, Window: time.Hour}
		d.Hasher.QueueBudget = time.Minute
	}))
	const decomposedUpper = "E\u0301LODIE@EXEMPLE.FR" // É as E + combining acute, in capitals
	res := env.PostSensitive(clientsRegister, registration("Élodie@Exemple.fr"), "").Expect(t, 200, gen.StatusActionSuccessful)
	var registered gen.ClientSession
	res.Data(t, &registered)
	if got := *registered.Client.Email; got != "élodie@exemple.fr" {
		t.Errorf("stored email %q, want the normalized élodie@exemple.fr", got)
	}
	for _, spelling := range []string{"élodie@exemple.fr", "ÉLODIE@exemple.fr", decomposedUpper} {
		t.Run("OKSignIn/"+spelling, func(t *testing.T) {
			login(env, map[string]any{"email": spelling, "password": password, "application": "planoorder"}).
				Expect(t, 200, gen.StatusActionSuccessful)
		})
		t.Run("ErrTaken/"+spelling, func(t *testing.T) {
			env.PostSensitive(clientsRegister, registration(spelling), "").Expect(t, 400, gen.StatusEmailAlreadyRegistered)
		})
	}
	t.Run("OKLinkToTheStoredAddress", func(t *testing.T) {
		requestLink(env, decomposedUpper, "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
		lastLinkToken(t, env, "élodie@exemple.fr")
	})
	t.Run("ErrConcurrentSpellings", func(t *testing.T) {
		spellings := []string{"ÅSA@x.example", "åsa@x.example", "A\u030aSA@X.EXAMPLE", "a\u030asa@x.example", "Åsa@X.example"}
		got := concurrently(20, func(i int) *apitest.Response {
			return env.PostSensitive(clientsRegister, registration(spellings[i%len(spellings)]), "")
		})
		if want := "map[200 action-successful:1 400 email-already-registered:19]"; got.String() != want {
			t.Errorf("answers = %s, want %s", got.String(), want)
		}
	})
	t.Run("GuessesShareOneAllowance", func(t *testing.T) {
		var got answers
		for i, spelling := range []string{"élodie@exemple.fr", "ÉLODIE@exemple.fr", decomposedUpper} {
			for j := range 4 {
				got.add(postFrom(env, addr(10+4*i+j), sessionsCreate, map[string]any{"email": spelling, "password": "a guess", "application": "planoorder"}, ""))
			}
		}
		if want := "map[400 invalid-password:10 429 rate-limited:2]"; got.String() != want {
			t.Errorf("guesses in three spellings answered %s, want %s", got.String(), want)
		}
	})
}

// signInFrom signs in from a client address with an optional device token and returns the
// answer's new device token.
func signInFrom(t *testing.T, env *apitest.Env, address, email, device string) string {
	t.Helper()
	params := map[string]any{"email": email, "password": password, "application": "planoorder"}
	if device != "" {
		params["device_token"] = device
	}
	token := deviceToken(t, postFrom(env, address, sessionsCreate, params, "").Expect(t, 200, gen.StatusActionSuccessful))
	if !strings.HasPrefix(token, "pad_") {
		t.Fatalf("device token %q, want a pad_ token", token)
	}
	return token
}

// exhaust spends the strangers' allowance at an account's passwords, and that of one address.
func exhaust(t *testing.T, env *apitest.Env, email string, addresses ...string) {
	t.Helper()
	wrong := map[string]any{"email": email, "password": "a guess", "application": "planoorder"}
	for _, a := range addresses {
		for tries := 0; postFrom(env, a, sessionsCreate, wrong, "").Status() != gen.StatusRateLimited; tries++ {
			if tries == 1000 {
				t.Fatalf("%d guesses at %s from %s were all evaluated", tries, email, a)
			}
		}
	}
}

func TestDeviceTokens(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	env.User("bob@example.com", password, "client")
	first := signInFrom(t, env, addr(1), "ada@example.com", "")
	bobs := signInFrom(t, env, addr(1), "bob@example.com", "")

	t.Run("HashedAtRest", func(t *testing.T) {
		var hash []byte
		var row string
		if err := env.Pool.QueryRow(t.Context(), "SELECT token_hash, row_to_json(d)::text FROM device_tokens d WHERE token_hash = $1",
			auth.HashToken(first)).Scan(&hash, &row); err != nil {
			t.Fatalf("no row holds the token's SHA-256: %v", err)
		}
		if strings.Contains(row, strings.TrimPrefix(first, "pad_")) {
			t.Errorf("the device_tokens row holds the token: %s", row)
		}
	})
	exhaust(t, env, "ada@example.com", addr(50))
	exhaust(t, env, "bob@example.com", addr(50))
	// The strangers' allowance is spent; so is that of the owner's own address, where someone
	// else behind the same NAT guessed.
	exhaust(t, env, "ada@example.com", addr(1))
	postFrom(env, addr(1), sessionsCreate, map[string]any{"email": "ada@example.com", "password": password, "application": "planoorder"}, "").
		Expect(t, 429, gen.StatusRateLimited)

	second := signInFrom(t, env, addr(60), "ada@example.com", first) // the device token still signs in
	t.Run("ErrRetiredToken", func(t *testing.T) {
		postFrom(env, addr(61), sessionsCreate, map[string]any{"email": "ada@example.com", "password": password,
			"application": "planoorder", "device_token": first}, "").Expect(t, 429, gen.StatusRateLimited)
	})
	t.Run("ErrAnotherUsersToken", func(t *testing.T) {
		postFrom(env, addr(62), sessionsCreate, map[string]any{"email": "bob@example.com", "password": password,
			"application": "planoorder", "device_token": second}, "").Expect(t, 429, gen.StatusRateLimited)
		bobs = signInFrom(t, env, addr(62), "bob@example.com", bobs)
	})
	t.Run("OwnAllowanceBoundsGuessesWithIt", func(t *testing.T) {
		var got answers
		for range 11 {
			got.add(postFrom(env, addr(63), sessionsCreate, map[string]any{"email": "ada@example.com", "password": "a guess",
				"application": "planoorder", "device_token": second}, ""))
		}
		if want := "map[400 invalid-password:10 429 rate-limited:1]"; got.String() != want {
			t.Errorf("guesses with a device token answered %s, want %s", got.String(), want)
		}
	})
	t.Run("ErrExpired", func(t *testing.T) {
		env.Clock.Advance(limits.Defaults.DeviceTokenTTL + time.Second)
		exhaust(t, env, "bob@example.com", addr(70))
		postFrom(env, addr(71), sessionsCreate, map[string]any{"email": "bob@example.com", "password": password,
			"application": "planoorder", "device_token": bobs}, "").Expect(t, 429, gen.StatusRateLimited)
	})
}

// The device token also keeps the owner's allowance of sign-in links.
func TestDeviceTokenKeepsLinksComing(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	device := signInFrom(t, env, addr(1), "ada@example.com", "")
	link := map[string]any{"email": "ada@example.com", "application": "planoorder"}
	for i := range 5 {
		postFrom(env, addr(10+i), magicLinkRequest, link, "").Expect(t, 200, gen.StatusActionSuccessful)
	}
	postFrom(env, addr(20), magicLinkRequest, link, "").Expect(t, 429, gen.StatusRateLimited)
	withDevice := map[string]any{"email": "ada@example.com", "application": "planoorder", "device_token": device}
	postFrom(env, addr(21), magicLinkRequest, withDevice, "").Expect(t, 200, gen.StatusActionSuccessful)
}

// Whoever registered someone else's email and signed in with it is a stranger to the account
// once its owner proves the email.
func TestProvenEmailForgetsTheRegistrantsDevices(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	postFrom(env, addr(66), clientsRegister, registration("victim@example.com"), "").Expect(t, 200, gen.StatusActionSuccessful)
	signInFrom(t, env, addr(66), "victim@example.com", "")
	requestLink(env, "victim@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
	res := postFrom(env, addr(1), magicLinkCreate, map[string]any{"magic_token": lastLinkToken(t, env, "victim@example.com"),
		"application": "planoorder"}, "").Expect(t, 200, gen.StatusActionSuccessful)
	owners := deviceToken(t, res)
	var devices, addresses int
	if err := env.Pool.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM device_tokens WHERE token_hash <> $1),
		(SELECT count(*) FROM known_addresses WHERE address <> $2)`, auth.HashToken(owners), addr(1)).Scan(&devices, &addresses); err != nil {
		t.Fatal(err)
	}
	if devices != 0 || addresses != 0 {
		t.Errorf("%d device tokens and %d addresses other than the owner's are still trusted", devices, addresses)
	}
}
