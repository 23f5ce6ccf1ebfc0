-- +goose Up
-- When a user's email was proven to belong to whoever signs in with it (a Google ID token with
-- a verified email, or a sign-in link). Registration with a password proves nothing about the
-- email, so a password set before the first proof is dropped then (see ProveUserEmail).
ALTER TABLE users ADD COLUMN email_verified_at timestamptz;

-- +goose Down
ALTER TABLE users DROP COLUMN email_verified_at;
