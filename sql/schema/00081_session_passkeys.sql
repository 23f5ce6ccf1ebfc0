-- +goose Up
-- The passkeys a session stands on (README, Second factors): the one it signed in with
-- (sessions/passkey_finish) and each one it completed a second factor with
-- (mfa/passkey_verify_finish). mfa/passkey_delete ends the sessions that used the passkey it
-- removes, in its transaction (RevokePasskeySessions), as a password change ends the sessions
-- made from the password. Registering a passkey is not using it.
--
-- A session from before this migration did not record which passkey it used: one whose methods
-- name webauthn is taken to stand on every passkey its user had at its last proof (any of them
-- may be the one), so that removing the passkey that opened it ends it, at the cost of ending it
-- too when another of those is removed.
ALTER TABLE sessions ADD COLUMN passkey_ids bigint[] NOT NULL DEFAULT '{}';
UPDATE sessions s SET passkey_ids = ARRAY(
        SELECT p.id FROM passkeys p WHERE p.user_id = s.user_id AND p.created_at <= s.proved_at ORDER BY p.id)
WHERE s.revoked_at IS NULL AND 'webauthn' = ANY (s.methods);

-- +goose Down
ALTER TABLE sessions DROP COLUMN passkey_ids;
