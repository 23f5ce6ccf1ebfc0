package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/gen/db"
	"github.com/plano/planoauth/internal/impl"
)

// The baselines are what PlanoAuth is measured against, each a bare net/http server in a
// process of its own (this program run with -serve KIND). Every one echoes X-Request-Id, as
// PlanoAuth does, because the open-loop script matches answers to requests by it.
//
//   - fixed: writes a fixed answer (a sessions/read answer of PlanoAuth's, captured once): the
//     HTTP layer's limit on this machine.
//   - lookup: hashes the bearer token and runs one SELECT by token hash on a one-table sessions
//     (the database "reference"): the physical reference for a token-checked read.
//   - samequery: the service's own session query (GetSessionByTokenHash, whatever it joins) and
//     nothing around it.
//   - scopesquery, indexquery: the service's own query of scopes/liaison_register for a client
//     (GetClientProfileByUserID) and of sessions/index (ListUserSessions), and nothing around it;
//     the token check is free, as a session cache hit nearly is (its user id is looked up once
//     per token, then kept). These are what those routes' targets allow at most: a route that
//     runs its query, with no pipeline around it, is at best as fast as this.

const referenceSchema = `CREATE TABLE sessions (
    id          uuid        PRIMARY KEY,
    token_hash  bytea       NOT NULL UNIQUE,
    role        text        NOT NULL,
    scopes      text[]      NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
)`

const referenceLookup = `SELECT id, role, scopes, created_at, revoked_at FROM sessions WHERE token_hash = $1`

// serveChild is the child mode: serve one baseline until killed.
func serveChild(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	kind := fs.String("serve", "", "fixed, lookup, samequery, scopesquery or indexquery")
	addr := fs.String("addr", "", "address to serve on")
	body := fs.String("body", "", "fixed: file holding the answer")
	if err := fs.Parse(args); err != nil {
		return err
	}
	handler, err := baselineHandler(*kind, *body, os.Getenv("DATABASE_URL"))
	if err != nil {
		return err
	}
	return http.ListenAndServe(*addr, echoRequestID(handler))
}

func baselineHandler(kind, bodyFile, databaseURL string) (http.Handler, error) {
	if kind == "fixed" {
		answer, err := os.ReadFile(bodyFile)
		if err != nil {
			return nil, err
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(answer)
		}), nil
	}
	pool, err := pgxpool.New(context.Background(), databaseURL)
	if err != nil {
		return nil, err
	}
	switch kind {
	case "lookup":
		return tokenHandler(func(ctx context.Context, hash []byte) (any, error) {
			var s struct {
				ID        string    `json:"id"`
				Role      string    `json:"role"`
				Scopes    []string  `json:"scopes"`
				CreatedAt time.Time `json:"created_at"`
				revokedAt *time.Time
			}
			err := pool.QueryRow(ctx, referenceLookup, hash).Scan(&s.ID, &s.Role, &s.Scopes, &s.CreatedAt, &s.revokedAt)
			if err == nil && s.revokedAt != nil {
				err = pgx.ErrNoRows
			}
			return s, err
		}), nil
	case "samequery":
		q := db.New(pool)
		return tokenHandler(func(ctx context.Context, hash []byte) (any, error) {
			return q.GetSessionByTokenHash(ctx, hash) // the whole row, whatever its shape
		}), nil
	case "scopesquery":
		return tokenHandler(ownQuery(db.New(pool), func(ctx context.Context, q *db.Queries, userID int64) (any, error) {
			return q.GetClientProfileByUserID(ctx, userID)
		})), nil
	case "indexquery":
		return tokenHandler(ownQuery(db.New(pool), func(ctx context.Context, q *db.Queries, userID int64) (any, error) {
			return q.ListUserSessions(ctx, db.ListUserSessionsParams{UserID: userID, MaxRows: impl.MaxSessionsListed})
		})), nil
	}
	return nil, fmt.Errorf("unknown baseline %q", kind)
}

// ownQuery is a lookup that runs a route's own query for the token's user, whose id it reads
// once per token and then keeps (as the service's session cache does).
func ownQuery(q *db.Queries, query func(ctx context.Context, q *db.Queries, userID int64) (any, error)) func(context.Context, []byte) (any, error) {
	var users sync.Map // string(token hash) → user id
	return func(ctx context.Context, hash []byte) (any, error) {
		userID, ok := users.Load(string(hash))
		if !ok {
			session, err := q.GetSessionByTokenHash(ctx, hash)
			if err != nil {
				return nil, err
			}
			userID, _ = users.LoadOrStore(string(hash), session.UserID)
		}
		return query(ctx, q, userID.(int64))
	}
}

// tokenHandler answers the session that lookup finds for the bearer token's hash.
func tokenHandler(lookup func(ctx context.Context, hash []byte) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		session, err := lookup(r.Context(), auth.HashToken(token))
		w.Header().Set("Content-Type", "application/json")
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			w.WriteHeader(http.StatusUnauthorized)
			_ = json.NewEncoder(w).Encode(map[string]string{"status": "invalid-token"})
		case err != nil:
			w.WriteHeader(http.StatusInternalServerError)
		default:
			_ = json.NewEncoder(w).Encode(map[string]any{"status": "action-successful",
				"message": "This status indicates that the request was successful.", "data": session})
		}
	})
}

func echoRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id := r.Header.Get("X-Request-Id"); id != "" {
			w.Header().Set("X-Request-Id", id)
		}
		next.ServeHTTP(w, r)
	})
}
