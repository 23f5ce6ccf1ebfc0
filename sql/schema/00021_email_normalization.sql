-- +goose Up
-- Emails are stored in one normalized form computed in Go (internal/emailaddr): PostgreSQL's
-- lower() folds only ASCII on the private cluster, so the index on lower(email) let "ÉVA@x" and
-- "éva@x" be two accounts, and Go and SQL compared differently. Three steps:
--   00021 (here) a work table;
--   00022 (Go, internal/migrate/emails.go) fills it with the normalized email of every user
--         whose stored email is not normalized;
--   00023 settles collisions, stores the normalized emails and makes the column unique.
CREATE TABLE email_renormalized (
    user_id  bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    email    text   NOT NULL
);

-- +goose Down
DROP TABLE email_renormalized;
