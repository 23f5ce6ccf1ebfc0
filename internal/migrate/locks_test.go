package migrate_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/plano/planoauth/internal/migrate"
)

// lockedBehind returns a database migrated up to 00081 and a transaction holding an ACCESS
// SHARE lock on device_tokens, as a long report would: 00082 alters that table, so it needs a
// lock that waits for the transaction.
func lockedBehind(t *testing.T) (url string, release func()) {
	t.Helper()
	ctx := context.Background()
	url, pool, _ := migratedUpTo(t, 81)
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback(ctx) })
	if _, err := tx.Exec(ctx, "LOCK TABLE device_tokens IN ACCESS SHARE MODE"); err != nil {
		t.Fatal(err)
	}
	return url, func() {
		if err := tx.Commit(ctx); err != nil {
			t.Error(err)
		}
	}
}

// version is the last migration applied to the database at url.
func version(t *testing.T, url string) int64 {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var v int64
	if err := conn.QueryRow(ctx, "SELECT max(version_id) FROM goose_db_version WHERE is_applied").Scan(&v); err != nil {
		t.Fatalf("read the version: %v", err)
	}
	return v
}

// A migration that cannot have its lock within the policy's timeout gives up, rolled back whole,
// rather than queue the table's traffic behind it for as long as the blocking transaction lasts.
func TestMigrationGivesUpALockItWaitsTooLongFor(t *testing.T) {
	t.Parallel()
	url, release := lockedBehind(t)
	policy := migrate.Policy{LockTimeout: 100 * time.Millisecond, Tries: 2, Pause: 10 * time.Millisecond}
	err := policy.Up(context.Background(), url)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "55P03" {
		t.Fatalf("Up = %v, want lock_not_available (55P03)", err)
	}
	if v := version(t, url); v != 81 {
		t.Errorf("version %d after the refusal, want 81: 00082 must be rolled back whole", v)
	}
	release()
	if err := policy.Up(context.Background(), url); err != nil {
		t.Fatalf("Up once the lock is free: %v", err)
	}
	if v := version(t, url); v < 82 {
		t.Errorf("version %d, want 00082 and after applied", v)
	}
}

// syncBuffer is a log that tells, once, when something was written to it.
type syncBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	written chan struct{}
	once    sync.Once
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.once.Do(func() { close(b.written) })
	return b.buf.Write(p)
}

// A refused migration is tried again after the pause, and goes through once the blocking
// transaction ended; the log says so.
func TestMigrationRefusedALockIsTriedAgain(t *testing.T) {
	t.Parallel()
	url, release := lockedBehind(t)
	log := &syncBuffer{written: make(chan struct{})}
	policy := migrate.Policy{LockTimeout: 50 * time.Millisecond, Tries: 100, Pause: 10 * time.Millisecond,
		Log: slog.New(slog.NewJSONHandler(log, nil))}
	done := make(chan error, 1)
	go func() { done <- policy.Up(context.Background(), url) }()
	select {
	case <-log.written: // refused once
	case err := <-done:
		t.Fatalf("Up returned %v before it was refused a lock", err)
	}
	release()
	if err := <-done; err != nil {
		t.Fatalf("Up after the transaction ended: %v", err)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	if !strings.Contains(log.buf.String(), "waited too long for a lock") {
		t.Errorf("log = %s, want the refusal told", log.buf.String())
	}
}
