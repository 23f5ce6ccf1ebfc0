package migrate_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/plano/planoauth/internal/dbtest"
	"github.com/plano/planoauth/internal/migrate"
)

// Accounts stored before trust came from proof and grants (00011-00015): only proven emails
// count as verified, only proven liaisons keep their role, an enterprise company's creator owns
// it, and every other membership becomes a request.
func TestAccountsCarriedForward(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := dbtest.NewEmptyDatabase(t)
	if err := migrate.UpTo(ctx, url, 10); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	exec := func(sql string) {
		t.Helper()
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec(`INSERT INTO users (id, email, email_verified_at) VALUES
		(1, 'owner@example.com', now()), (2, 'member@example.com', NULL),
		(3, 'proven-liaison@example.com', now()), (4, 'squatted-liaison@example.com', NULL)`)
	exec(`INSERT INTO companies (id, name, enterprise, created_at) VALUES
		(10, 'Enterprise', true, '2026-01-01T00:00:00Z'), (11, 'Plain', false, '2026-01-01T00:00:00Z')`)
	exec(`INSERT INTO clients (id, user_id, company_id, created_at) VALUES
		(20, 1, 10, '2026-01-01T00:00:00Z'), (21, 2, 10, '2026-02-01T00:00:00Z')`)
	exec(`INSERT INTO liaisons (id, user_id) VALUES (30, 3), (31, 4)`)
	exec(`INSERT INTO liaison_clients (liaison_id, client_id) VALUES (30, 20)`)

	if err := migrate.Up(ctx, url); err != nil {
		t.Fatal(err)
	}
	var owner *int64
	var ownerCompany, memberCompany *int64
	var requested int64
	err = pool.QueryRow(ctx, `SELECT (SELECT owner_client_id FROM companies WHERE id = 10),
		(SELECT company_id FROM clients WHERE id = 20), (SELECT company_id FROM clients WHERE id = 21),
		(SELECT company_id FROM company_member_requests WHERE client_id = 21)`).Scan(&owner, &ownerCompany, &memberCompany, &requested)
	if err != nil {
		t.Fatal(err)
	}
	if owner == nil || *owner != 20 || ownerCompany == nil || *ownerCompany != 10 {
		t.Errorf("owner = %v, its company %v: want client 20, the creator, owning and in company 10", owner, ownerCompany)
	}
	if memberCompany != nil || requested != 10 {
		t.Errorf("member's company = %v, request = %d: want no company and a request to join 10", memberCompany, requested)
	}
	var provenAccepted, squattedAccepted, verified, unverified bool
	var grantor *int64
	err = pool.QueryRow(ctx, `SELECT (SELECT accepted_at IS NOT NULL FROM liaisons WHERE id = 30),
		(SELECT accepted_at IS NOT NULL FROM liaisons WHERE id = 31),
		(SELECT email_verified_at IS NOT NULL FROM users WHERE id = 1),
		(SELECT email_verified_at IS NOT NULL FROM users WHERE id = 2),
		(SELECT granted_by_user_id FROM liaison_clients WHERE liaison_id = 30)`).Scan(&provenAccepted, &squattedAccepted, &verified, &unverified, &grantor)
	if err != nil {
		t.Fatal(err)
	}
	if !provenAccepted || squattedAccepted {
		t.Errorf("liaisons accepted: proven %v, unproven %v; want only the proven one", provenAccepted, squattedAccepted)
	}
	if !verified || unverified {
		t.Errorf("verified: proven user %v, registered user %v; want only the proven one", verified, unverified)
	}
	if grantor != nil {
		t.Errorf("an old grant's grantor = %d, want unknown (NULL)", *grantor)
	}
	var clientScopes bool
	if err := pool.QueryRow(ctx, `SELECT bool_and(scopes @> '{companies.members,companies.request_member}')
		FROM role_scopes WHERE role = 'client'`).Scan(&clientScopes); err != nil || !clientScopes {
		t.Errorf("client roles have the company scopes: %v (%v)", clientScopes, err)
	}
}

// Liaisons whose inviter chose their password before invitations existed (liaisons/register
// took one), and whose email was never proven, lose it with their sessions (00017): the inviter
// could sign in as them. A proven liaison, and a user who is no liaison, keep theirs. Grants made
// before consent was asked keep applying (00016).
func TestInviterChosenPasswordsDropped(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := dbtest.NewEmptyDatabase(t)
	if err := migrate.UpTo(ctx, url, 10); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	exec := func(sql string) {
		t.Helper()
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec(`INSERT INTO users (id, email, password_hash, email_verified_at) VALUES
		(1, 'chosen@example.com', '$argon2id$chosen-by-the-inviter', NULL),
		(2, 'proven@example.com', '$argon2id$her-own', now()),
		(3, 'client@example.com', '$argon2id$his-own', NULL)`)
	exec(`INSERT INTO clients (id, user_id) VALUES (20, 3)`)
	exec(`INSERT INTO liaisons (id, user_id) VALUES (30, 1), (31, 2)`)
	exec(`INSERT INTO liaison_clients (liaison_id, client_id) VALUES (30, 20), (31, 20)`)
	exec(`INSERT INTO sessions (token_hash, user_id, application_id, role, scopes)
		SELECT decode(md5(u::text), 'hex'), u, (SELECT id FROM applications WHERE slug = 'planox2'), 'liaison', '{}'
		FROM unnest('{1,2}'::bigint[]) u`)

	if err := migrate.Up(ctx, url); err != nil {
		t.Fatal(err)
	}
	var chosen, proven, client *string
	var liveChosen, liveProven, accepted int
	err = pool.QueryRow(ctx, `SELECT (SELECT password_hash FROM users WHERE id = 1), (SELECT password_hash FROM users WHERE id = 2),
		(SELECT password_hash FROM users WHERE id = 3),
		(SELECT count(*) FROM sessions WHERE user_id = 1 AND revoked_at IS NULL),
		(SELECT count(*) FROM sessions WHERE user_id = 2 AND revoked_at IS NULL),
		(SELECT count(*) FROM liaison_clients WHERE accepted_at IS NOT NULL AND via_liaison_id IS NULL)`).
		Scan(&chosen, &proven, &client, &liveChosen, &liveProven, &accepted)
	if err != nil {
		t.Fatal(err)
	}
	if chosen != nil || liveChosen != 0 {
		t.Errorf("the unproven liaison kept its inviter's password (%v) or %d sessions, want neither", chosen, liveChosen)
	}
	if proven == nil || liveProven != 1 || client == nil {
		t.Errorf("proven liaison: password %v, %d sessions; client: password %v; want theirs kept", proven, liveProven, client)
	}
	if accepted != 2 {
		t.Errorf("%d old grants accepted, want both (they applied before consent was asked)", accepted)
	}
}
