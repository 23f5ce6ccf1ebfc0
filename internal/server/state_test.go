package server_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
)

// TestConcurrentCallersSeeOnlyThemselves: with one request state per request (reqstate), what
// the middleware recorded for one request (its caller, its caller session, its peer) must never
// reach another. Clients read their sessions concurrently from addresses of their own, between
// strangers sending a bad token and an application reading what it may grant: each answer is
// the caller's own, a stranger's carries no session, the application's no session either.
func TestConcurrentCallersSeeOnlyThemselves(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	const clients, rounds = 6, 25
	emails, tokens := make([]string, clients), make([]string, clients)
	for i := range clients {
		emails[i] = fmt.Sprintf("client%d@example.com", i)
		env.User(emails[i], "correct horse battery staple", "client")
		tokens[i] = env.Login(emails[i], "correct horse battery staple", "planoorder")
	}
	own := make([]gen.Session, clients)
	for i, token := range tokens {
		env.Get("/api/v1/sessions/read", token).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &own[i])
	}
	var wg sync.WaitGroup
	for round := range rounds {
		for i := range clients {
			wg.Add(3)
			go func() { // the client, from its own address
				defer wg.Done()
				req := apitest.Request(http.MethodGet, "/api/v1/sessions/read", "", nil, tokens[i])
				req.RemoteAddr = fmt.Sprintf("127.0.0.%d:%d", i+1, 40000+round)
				res := env.Do(req)
				var got gen.Session
				if res.Code != 200 || res.Envelope.Session == nil {
					t.Errorf("client %d: answer %d %s with session %v", i, res.Code, res.Status(), res.Envelope.Session)
					return
				}
				res.Data(t, &got)
				if got.Id != own[i].Id || got.User == nil || got.User.Email != emails[i] || res.Envelope.Session.Id != own[i].Id {
					t.Errorf("client %d was answered another caller's session: data %v of %v, session %v", i, got.Id, got.User, res.Envelope.Session.Id)
				}
			}()
			go func() { // a stranger with a token of no session, from another address
				defer wg.Done()
				req := apitest.Request(http.MethodGet, "/api/v1/sessions/read", "", nil, "pas_"+fmt.Sprintf("%040d", round*clients+i))
				req.RemoteAddr = fmt.Sprintf("127.0.1.%d:%d", i+1, 40000+round)
				res := env.Do(req)
				if res.Code == 200 || res.Envelope.Session != nil {
					t.Errorf("a stranger was answered %d %s with session %v", res.Code, res.Status(), res.Envelope.Session)
				}
			}()
			go func() { // an application, which has no session of its own to repeat
				defer wg.Done()
				req := apitest.Request(http.MethodGet, "/api/v1/scopes/liaison_register", "", nil, env.AppTokens["planoorder"])
				req.RemoteAddr = fmt.Sprintf("127.0.2.%d:%d", i+1, 40000+round)
				res := env.Do(req)
				if res.Code != 200 || res.Envelope.Session != nil {
					t.Errorf("the application was answered %d %s with session %v", res.Code, res.Status(), res.Envelope.Session)
				}
			}()
		}
	}
	wg.Wait()
}
