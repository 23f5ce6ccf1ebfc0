package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/plano/planoauth/internal/auth"
)

const (
	password    = "correct horse battery staple"
	application = "planoorder"
)

// account is a client registered through the API, with the session its registration opened.
type account struct {
	email   string
	session struct {
		ID     string   `json:"id"`
		Token  string   `json:"token"`
		Role   string   `json:"role"`
		Scopes []string `json:"scopes"`
	}
}

// fixtures are made through the public API only, so that the bench does not depend on the
// service's internals: clients whose sessions the reads use, and others who log in.
type fixtures struct {
	readers, loginers []account
}

func seed(ctx context.Context, server *process, readers, loginers int) (fixtures, error) {
	accounts := make([]account, readers+loginers)
	errs := make([]error, len(accounts))
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				accounts[i], errs[i] = register(ctx, server.url, fmt.Sprintf("bench-%d@example.com", i))
			}
		}()
	}
	for i := range accounts {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return fixtures{}, err
		}
	}
	return fixtures{readers: accounts[:readers], loginers: accounts[readers:]}, nil
}

// register registers an enterprise client (so that scopes/liaison_register finds a client and
// a company), which also logs it in.
func register(ctx context.Context, base, email string) (account, error) {
	a := account{email: email}
	var answer struct {
		Status string `json:"status"`
		Data   struct {
			Session json.RawMessage `json:"session"`
		} `json:"data"`
	}
	req := registration(email)
	body, err := call(ctx, base, req)
	if err != nil {
		return a, err
	}
	if err := json.Unmarshal(body, &answer); err != nil || answer.Status != "action-successful" {
		return a, fmt.Errorf("register %s: %s", email, body)
	}
	return a, json.Unmarshal(answer.Data.Session, &a.session)
}

// call sends one request of the kind wrk sends, with Go's client (for setting up only).
func call(ctx context.Context, base string, r httpRequest) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, r.method, base+r.path, bytes.NewBufferString(r.body))
	if err != nil {
		return nil, err
	}
	for _, h := range r.header {
		req.Header.Set(h[0], h[1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err == nil && res.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s %s: %d %s", r.method, r.path, res.StatusCode, body)
	}
	return body, err
}

// sensitive is a POST of sensitive params: the JSON object in base64, as text/plain.
func sensitive(path string, params any) httpRequest {
	b, err := json.Marshal(params)
	if err != nil {
		panic(err) // maps of strings and booleans always marshal
	}
	return httpRequest{method: http.MethodPost, path: path, body: base64.StdEncoding.EncodeToString(b),
		header: [][2]string{{"Content-Type", "text/plain"}}}
}

func registration(email string) httpRequest {
	return sensitive("/api/v1/clients/register", map[string]any{"application": application, "enterprise": true,
		"client": map[string]any{"email": email, "password": password, "first_name": "Bench", "last_name": "Mark"}})
}

func login(email string) httpRequest {
	return sensitive("/api/v1/sessions/create", map[string]any{"email": email, "password": password, "application": application})
}

// fromAddress is r sent on behalf of the i-th of the client addresses 10.0.0.0/8 (the servers
// trust wrk's 127.0.0.1 as a proxy).
func fromAddress(r httpRequest, i int) httpRequest {
	r.header = append(slices.Clone(r.header), [2]string{"X-Forwarded-For", fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)})
	return r
}

// tokenGets are GETs of path, one per reader, each with the reader's bearer token.
func tokenGets(path string, readers []account) []httpRequest {
	reqs := make([]httpRequest, len(readers))
	for i, a := range readers {
		reqs[i] = httpRequest{method: http.MethodGet, path: path, header: [][2]string{{"Authorization", "Bearer " + a.session.Token}}}
	}
	return reqs
}

// seedReference creates the reference database: one table of the readers' sessions, keyed by
// their tokens' hashes.
func seedReference(ctx context.Context, url string, readers []account) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, referenceSchema); err != nil {
		return fmt.Errorf("create the reference table: %w", err)
	}
	for _, a := range readers {
		s := a.session
		if _, err := conn.Exec(ctx, `INSERT INTO sessions (id, token_hash, role, scopes) VALUES ($1, $2, $3, $4)`,
			s.ID, auth.HashToken(s.Token), s.Role, s.Scopes); err != nil {
			return fmt.Errorf("seed the reference table: %w", err)
		}
	}
	_, err = conn.Exec(ctx, `ANALYZE sessions`)
	return err
}

// captureAnswer saves one sessions/read answer of PlanoAuth's for the fixed-answer baseline.
func captureAnswer(ctx context.Context, server *process, reader account, dir string) (string, error) {
	body, err := call(ctx, server.url, tokenGets("/api/v1/sessions/read", []account{reader})[0])
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "fixed-answer.json")
	return path, os.WriteFile(path, body, 0o644)
}

// verifyEmails marks the readers' emails proven, as their owners' verification links would:
// an unproven client may grant nothing, so scopes/liaison_register would answer empty lists
// without reading anything.
func verifyEmails(ctx context.Context, url string, readers []account) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	emails := make([]string, len(readers))
	for i, a := range readers {
		emails[i] = a.email
	}
	tag, err := conn.Exec(ctx, `UPDATE users SET email_verified_at = now() WHERE email = ANY($1)`, emails)
	if err != nil {
		return fmt.Errorf("verify the readers' emails: %w", err)
	}
	if int(tag.RowsAffected()) != len(readers) {
		return fmt.Errorf("verified %d of %d readers' emails", tag.RowsAffected(), len(readers))
	}
	return nil
}

// passwordHash is the PHC string the server stored for email: its argon2id parameters are the
// ones the raw hash rate is measured with.
func passwordHash(ctx context.Context, url, email string) (string, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	var phc string
	if err := conn.QueryRow(ctx, `SELECT password_hash FROM users WHERE email = $1`, email).Scan(&phc); err != nil {
		return "", fmt.Errorf("read the stored password hash: %w", err)
	}
	return phc, nil
}

// postmasterPID finds the bench cluster's postmaster: the parent of a backend.
func postmasterPID(ctx context.Context, url string) (int, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	var backend int
	if err := conn.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&backend); err != nil {
		return 0, err
	}
	ppid, _, _, ok := procStat(backend)
	if !ok {
		return 0, fmt.Errorf("no /proc entry for PostgreSQL backend %d", backend)
	}
	return ppid, nil
}
