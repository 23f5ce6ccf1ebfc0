package impl_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
)

const usersClientRegister = "/api/v1/users/client_register"

// limitedSession logs a user without a role in and returns the session token that comes with
// client-required.
func limitedSession(t *testing.T, env *apitest.Env, email string) string {
	t.Helper()
	res := login(env, map[string]any{"email": email, "password": password, "application": "planoorder"}).
		Expect(t, 401, gen.StatusClientRequired)
	return *res.Envelope.Session.Token
}

func TestUsersClientRegister(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)

	t.Run("OK", func(t *testing.T) {
		env.User("norole@example.com", password)
		token := limitedSession(t, env, "norole@example.com")
		env.Get(sessionsIndex, token).Expect(t, 401, gen.StatusClientRequired)

		res := env.PostJSON(usersClientRegister, map[string]any{
			"client":       map[string]any{"first_name": "Ada", "last_name": "Lovelace", "phone": "+15555550100"},
			"session_view": "full",
		}, token).Expect(t, 200, gen.StatusActionSuccessful)
		var data gen.ClientSession
		res.Data(t, &data)
		if *data.Client.Email != "norole@example.com" || *data.Client.FirstName != "Ada" || *data.Client.Phone != "+15555550100" {
			t.Errorf("client = %+v, want the user's email with the given names and phone", data.Client)
		}
		s := data.Session
		if *s.Role != gen.RoleClient || !slices.Contains(*s.Scopes, "sessions.index") || s.Token != nil || s.UserAgent == nil {
			t.Errorf("session = %+v, want the full view of a client session without its token", s)
		}
		if caller := res.Envelope.Session; caller == nil || caller.Id != s.Id || *caller.Role != gen.RoleClient {
			t.Errorf("envelope session = %+v, want the caller's session with its new role", caller)
		}
		// The same token now acts as a client.
		env.Get(sessionsIndex, token).Expect(t, 200, gen.StatusActionSuccessful)
		if got := outbox(t, env); !slices.Equal(got, []string{"welcome norole@example.com"}) {
			t.Errorf("outbox = %v, want one welcome", got)
		}
	})
	t.Run("EmptyBody", func(t *testing.T) {
		env.User("empty@example.com", password)
		token := limitedSession(t, env, "empty@example.com")
		res := env.PostJSON(usersClientRegister, map[string]any{"enterprise": true, "view": "contract_type_view"}, token).
			Expect(t, 200, gen.StatusActionSuccessful)
		var data gen.ClientSession
		res.Data(t, &data)
		if data.Client.CompanyId == nil || !*data.Client.Enterprise {
			t.Errorf("client = %s, want an enterprise client", res.Envelope.Data)
		}
	})
	t.Run("ErrEmailAlreadyClient", func(t *testing.T) {
		env.User("twice@example.com", password)
		token := limitedSession(t, env, "twice@example.com")
		// Meanwhile an application made the user a client.
		env.PostSensitive(clientsCreate, map[string]any{"client": map[string]any{"email": "twice@example.com"}}, env.AppTokens["planoorder"]).
			Expect(t, 200, gen.StatusClientCreatedForExistingEmail)
		env.Do(apitest.Request(http.MethodPost, usersClientRegister, "", nil, token)).Expect(t, 400, gen.StatusEmailAlreadyClient)
	})
	t.Run("ErrClientValidationFailed", func(t *testing.T) {
		env.User("badphone@example.com", password)
		token := limitedSession(t, env, "badphone@example.com")
		res := env.PostJSON(usersClientRegister, map[string]any{"client": map[string]any{"phone": "12", "company_id": 424242}}, token).
			Expect(t, 400, gen.StatusClientValidationFailed)
		if got, want := res.Params(), []string{"client.phone"}; !slices.Equal(got, want) { // a company id is a request
			t.Errorf("errors = %v, want %v", got, want)
		}
		env.Get(sessionsIndex, token).Expect(t, 401, gen.StatusClientRequired) // still limited
	})
	t.Run("ErrPermissionDenied", func(t *testing.T) {
		env.User("already@example.com", password, "client")
		token := env.Login("already@example.com", password, "planoorder")
		env.PostJSON(usersClientRegister, map[string]any{}, token).Expect(t, 403, gen.StatusPermissionDenied)
	})
}
