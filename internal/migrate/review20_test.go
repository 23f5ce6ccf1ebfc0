package migrate_test

import (
	"context"
	"testing"

	"github.com/plano/planoauth/internal/migrate"
)

// Review 20: migration 97 settles a collision by keeping whichever user was stored in ASCII
// form already, whatever the two accounts are. Before 97, a stranger could register
// ada@xn--exmple-cua.com (clients/register: the mailbox's ASCII spelling, never proven: he
// cannot read its mail) beside the owner's proven ada@exämple.com; 97 then gives the address
// to the stranger's squat, and the owner's proven account (her roles, her password) becomes the
// one "no sign-in or look-up finds anymore": her password, links and Google sign-ins all land
// at the squat. 00023 settled the same kind of collision by keeping the account whose email was
// proven first, else the oldest. Here the proven, older account must keep the address.
func TestReview20DomainCollisionKeepsTheProvenAccount(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url, pool, exec := migratedUpTo(t, 96)
	exec(`INSERT INTO users (id, email, email_verified_at) VALUES (1, 'ada@exämple.com', now() - interval '1 year'),
		(2, 'ada@xn--exmple-cua.com', NULL)`)
	if err := migrate.Up(ctx, url); err != nil {
		t.Fatal(err)
	}
	var owner int64
	if err := pool.QueryRow(ctx, `SELECT id FROM users WHERE email = 'ada@xn--exmple-cua.com'`).Scan(&owner); err != nil {
		t.Fatal(err)
	}
	if owner != 1 {
		t.Errorf("the address ada@xn--exmple-cua.com is user %d's, the never-proven squat registered after; want user 1 (proven a year ago)", owner)
	}
}
