package migrate_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/plano/planoauth/internal/migrate"
)

// Sessions from before migration 00081 did not record the passkey they used: a live one whose
// methods name webauthn is taken to stand on every passkey its user had at its last proof (so
// that removing the passkey that opened it ends it); one that used no passkey stands on none.
func TestSessionPasskeysMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url, pool, exec := migratedUpTo(t, 80)
	proved := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	exec(`INSERT INTO users (id, email) VALUES (1, 'ada@example.com'), (2, 'grace@example.com')`)
	exec(`INSERT INTO passkeys (id, user_id, rp_id, credential_id, name, credential, created_at) VALUES
		(10, 1, 'localhost', '\x0a', 'Phone', '{}', $1), (11, 1, 'localhost', '\x0b', 'Key', '{}', $1),
		(12, 1, 'localhost', '\x0c', 'Later', '{}', $2), (20, 2, 'localhost', '\x14', 'Grace', '{}', $1)`,
		proved.Add(-time.Hour), proved.Add(time.Hour))
	exec(`INSERT INTO sessions (token_hash, user_id, application_id, role, scopes, created_at, last_used_at, aal, methods, proved_at)
		SELECT t.hash, 1, a.id, 'client', '{}', $1, $1, t.aal, t.methods, $1
		FROM applications a, (VALUES ('\x01'::bytea, 'aal2', '{webauthn}'::text[]), ('\x02', 'aal2', '{pwd,webauthn}'),
			('\x03', 'aal2', '{pwd,otp}'), ('\x04', 'aal1', '{pwd}')) AS t (hash, aal, methods)
		WHERE a.slug = 'planoorder'`, proved)

	if err := migrate.Up(ctx, url); err != nil {
		t.Fatal(err)
	}
	want := map[string][]int64{`\x01`: {10, 11}, `\x02`: {10, 11}, `\x03`: {}, `\x04`: {}}
	for hash, ids := range want {
		var got []int64
		if err := pool.QueryRow(ctx, "SELECT passkey_ids FROM sessions WHERE token_hash = $1::text::bytea", hash).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, ids) {
			t.Errorf("session %s stands on passkeys %v after the migration, want %v", hash, got, ids)
		}
	}
}
