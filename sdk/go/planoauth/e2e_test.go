package planoauth_test

import (
	"context"
	"net/http"
	"os"
	"testing"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/sdk/go/planoauth"
)

func TestMain(m *testing.M) { os.Exit(apitest.Main(m)) }

// bearer authenticates an SDK request with a token.
func bearer(token string) planoauth.RequestEditorFn {
	return func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+token)
		return nil
	}
}

func sensitive(t *testing.T, params any) string {
	t.Helper()
	body, err := planoauth.Sensitive(params)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// TestSDKClientLifecycle drives a running server with the generated Go client: register a
// client, log in, read the scopes (nothing to grant before the email is proven), read the
// session, log out, and see the token refused.
func TestSDKClientLifecycle(t *testing.T) {
	env := apitest.New(t)
	srv := env.HTTPServer()
	client, err := planoauth.NewClientWithResponses(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	first, last := "Ada", "Lovelace"
	registered, err := client.ClientsRegisterWithTextBodyWithResponse(ctx, sensitive(t, planoauth.ClientsRegisterInput{
		Application: planoauth.Planoorder,
		Client: planoauth.RegisteringClient{Email: "ada@example.com", Password: "correct horse battery staple",
			FirstName: &first, LastName: &last},
	}))
	if err != nil || registered.JSON200 == nil || registered.JSON200.Data.Client.Email == nil {
		t.Fatalf("register: %v %s", err, registered.Body)
	}

	login, err := client.SessionsCreateWithTextBodyWithResponse(ctx, sensitive(t, planoauth.SessionsCreateInput{
		Email: "ada@example.com", Password: "correct horse battery staple", Application: planoauth.Planoorder,
	}))
	if err != nil || login.JSON200 == nil {
		t.Fatalf("log in: %v %s", err, login.Body)
	}
	token := *login.JSON200.Data.Token

	// Registering proves nothing about the email: until it is proven, the client may grant nothing.
	scopes, err := client.ScopesLiaisonRegisterWithResponse(ctx, &planoauth.ScopesLiaisonRegisterParams{}, bearer(token))
	if err != nil || scopes.JSON200 == nil || len(scopes.JSON200.Data.Clients)+len(scopes.JSON200.Data.Companies) != 0 {
		t.Fatalf("read scopes: %v %s, want nothing to grant yet", err, scopes.Body)
	}

	read, err := client.SessionsReadWithResponse(ctx, &planoauth.SessionsReadParams{}, bearer(token))
	if err != nil || read.JSON200 == nil || read.JSON200.Data.Id != login.JSON200.Data.Id ||
		read.JSON200.Data.User == nil || read.JSON200.Data.User.EmailVerified == nil || *read.JSON200.Data.User.EmailVerified {
		t.Fatalf("read the session: %v %s, want its unverified user", err, read.Body)
	}

	logout, err := client.SessionsDeleteWithResponse(ctx, &planoauth.SessionsDeleteParams{}, planoauth.SessionsDeleteJSONRequestBody{}, bearer(token))
	if err != nil || logout.JSON200 == nil || logout.JSON200.Data.Revoked != 1 {
		t.Fatalf("log out: %v %s", err, logout.Body)
	}

	again, err := client.SessionsReadWithResponse(ctx, &planoauth.SessionsReadParams{}, bearer(token))
	if err != nil || again.JSON401 == nil || again.JSON401.Status != planoauth.UnauthorizedErrorStatusInvalidToken {
		t.Fatalf("a logged-out token: %v %s, want 401 invalid-token", err, again.Body)
	}
}
