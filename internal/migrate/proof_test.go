package migrate_test

import (
	"context"
	"testing"
	"time"

	"github.com/plano/planoauth/internal/migrate"
)

// Sessions and TOTP secrets from before migration 00071: a session proved its user when it was
// made; a confirmed app stays (it belongs to no session); a pending one, which has no session to
// belong to, is dropped.
func TestRecentProofMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url, pool, exec := migratedUpTo(t, 70)
	made := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	exec(`INSERT INTO users (id, email) VALUES (1, 'ada@example.com'), (2, 'grace@example.com')`)
	exec(`INSERT INTO sessions (token_hash, user_id, application_id, role, scopes, created_at, last_used_at)
		VALUES ('\x01', 1, (SELECT id FROM applications WHERE slug = 'planoorder'), 'client', '{}', $1, now())`, made)
	exec(`INSERT INTO totp_secrets (user_id, sealed_secret, created_at, expires_at, confirmed_at) VALUES
		(1, '\x01', $1, NULL, $1), (2, '\x02', now(), now() + interval '15 minutes', NULL)`, made)

	if err := migrate.Up(ctx, url); err != nil {
		t.Fatal(err)
	}
	var proved time.Time
	if err := pool.QueryRow(ctx, "SELECT proved_at FROM sessions WHERE token_hash = '\\x01'").Scan(&proved); err != nil {
		t.Fatal(err)
	}
	if !proved.Equal(made) {
		t.Errorf("proved_at %v, want the session's created_at %v", proved, made)
	}
	var users []int64
	rows, err := pool.Query(ctx, "SELECT user_id FROM totp_secrets ORDER BY user_id")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		users = append(users, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(users) != 1 || users[0] != 1 {
		t.Errorf("TOTP secrets of users %v after the migration, want the confirmed one of user 1", users)
	}
}
