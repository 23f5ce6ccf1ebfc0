-- +goose Up
-- What the retention worker (internal/retention) finds its rows by, so that each batch is an
-- index range rather than a scan. Sessions are judged by created_at (immutable, so indexing it
-- costs no write on each use) and revoked_at; an index on last_used_at would cost one on every
-- recorded use.
CREATE INDEX sessions_created_at_idx ON sessions (created_at) WHERE NOT remember_me;
CREATE INDEX sessions_revoked_at_idx ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX magic_links_expires_at_idx ON magic_links (expires_at);
CREATE INDEX email_outbox_sent_at_idx ON email_outbox (sent_at) WHERE sent_at IS NOT NULL;
CREATE INDEX email_outbox_failed_at_idx ON email_outbox (failed_at) WHERE failed_at IS NOT NULL;

-- +goose Down
DROP INDEX email_outbox_failed_at_idx, email_outbox_sent_at_idx, magic_links_expires_at_idx,
    sessions_revoked_at_idx, sessions_created_at_idx;
