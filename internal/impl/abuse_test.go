package impl_test

// The attacks of issue 11, each from the HTTP API with the callers' own client addresses.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/impl"
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

// Thirty wrong passwords from ten other addresses must not keep the owner out: from the address
// it signed in from before, or with the device token it got then, the right password works.
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

	var got answers
	for i := range 30 {
		got.add(postFrom(env, addr(2+i%10), sessionsCreate, wrong, ""))
	}
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
	var got answers
	for i := range 40 {
		email := fmt.Sprintf("user%d@example.com", i)
		env.User(email, "", "client")
		got.add(postFrom(env, addr(1), magicLinkRequest, map[string]any{"email": email, "application": "planoorder"}, ""))
	}
	if want := "map[200 action-successful:20 429 rate-limited:20]"; got.String() != want {
		t.Errorf("link requests from one address answered %s, want %s", got.String(), want)
	}
}

// Sixty registrations at once from one address must not pass its limit of thirty.
func TestRegistrationLimitHoldsUnderConcurrency(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		d.Hasher.QueueBudget = time.Minute // every admitted registration waits its turn: none is shed
	}))
	var got answers
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 60 {
		wg.Go(func() {
			<-start
			got.add(postFrom(env, addr(1), clientsRegister, registration(fmt.Sprintf("client%d@example.com", i)), ""))
		})
	}
	close(start)
	wg.Wait()
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
			"liaison":    map[string]any{"email": fmt.Sprintf("lia%d@example.com", i), "password": "the liaison's password"},
			"client_ids": []int64{adaClient},
		}, ada))
	}
	if want := "map[200 action-successful:30 429 rate-limited:1]"; got.String() != want {
		t.Errorf("one caller's liaison registrations answered %s, want %s", got.String(), want)
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
