package impl

import (
	"net/http"

	"github.com/plano/planoauth/internal/envelope"
	"github.com/plano/planoauth/internal/gen"
)

// The success answers of the hottest token-checked routes, written by envelope.WriteJSON (its
// pooled buffer) instead of the generated Visit method (a new buffer and encoder per answer).
// Each wraps the generated answer type, so handlers fill the same fields, and writes the same
// status code, headers and bytes as the generated method would (answers_test.go compares them).

// sessionsReadOK is sessions/read's 200.
type sessionsReadOK struct {
	gen.SessionsRead200JSONResponse
}

func (a sessionsReadOK) VisitSessionsReadResponse(w http.ResponseWriter) error {
	return envelope.WriteJSON(w, http.StatusOK, &a.SessionsRead200JSONResponse)
}

// sessionsIndexOK is sessions/index's 200.
type sessionsIndexOK struct {
	gen.SessionsIndex200JSONResponse
}

func (a sessionsIndexOK) VisitSessionsIndexResponse(w http.ResponseWriter) error {
	return envelope.WriteJSON(w, http.StatusOK, &a.SessionsIndex200JSONResponse)
}

// scopesLiaisonRegisterOK is scopes/liaison_register's 200.
type scopesLiaisonRegisterOK struct {
	gen.ScopesLiaisonRegister200JSONResponse
}

func (a scopesLiaisonRegisterOK) VisitScopesLiaisonRegisterResponse(w http.ResponseWriter) error {
	return envelope.WriteJSON(w, http.StatusOK, &a.ScopesLiaisonRegister200JSONResponse)
}
