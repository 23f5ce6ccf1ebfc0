package server_test

import (
	"net/http"
	"net/http/httptest"

	"github.com/plano/planoauth/internal/apitest"
)

// httptestDo serves a GET outside the API, whose answers are not envelopes.
func httptestDo(env *apitest.Env, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	env.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}
