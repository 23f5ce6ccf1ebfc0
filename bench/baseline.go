package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/gen/db"
)

// serveBaseline is the reference: the least a token-checked read can do. It hashes the bearer
// token and runs the service's own indexed lookup, with nothing else around it.
func serveBaseline(addr, databaseURL string) error {
	pool, err := pgxpool.New(contextBackground(), databaseURL)
	if err != nil {
		return err
	}
	q := db.New(pool)
	return http.ListenAndServe(addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		row, err := q.GetSessionByTokenHash(r.Context(), auth.HashToken(token))
		w.Header().Set("Content-Type", "application/json")
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			w.WriteHeader(http.StatusUnauthorized)
			_ = json.NewEncoder(w).Encode(map[string]string{"status": "invalid-token"})
		case err != nil:
			w.WriteHeader(http.StatusInternalServerError)
		default:
			_ = json.NewEncoder(w).Encode(map[string]any{"status": "action-successful", "data": map[string]any{"id": row.Session.ID, "role": row.Session.Role}})
		}
	}))
}
