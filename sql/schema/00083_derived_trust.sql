-- +goose Up
-- Derived trust (README, Second factors): what a session made goes with the factor it stood on.
-- Every passkey, authenticator app and set of recovery codes records the session that made it
-- (made_by); every session records the sessions that made the factors and codes it proved
-- (derived_from). Removing a factor ends the sessions that stood on it, and, transitively
-- (DerivedSessions), the sessions that stood on what those made; what they made is removed with
-- it, and their devices and addresses are forgotten, in the removal's transaction.
--
-- A session that used a recovery code is tied to its set through the session that made the set
-- (derived_from names it): a set is replaced whole, so the code row may be gone by the time the
-- factor the set came from is removed, while the session it opened still stands on it.
--
-- A session that proved a code of the authenticator app records which app (totp_id; a user has
-- one at a time, but a session that proved a code of an earlier one must not stand on the next).
--
-- Rows from before this migration recorded none of this: made_by is NULL (made by nobody known:
-- no removal takes them along), derived_from empty, totp_id NULL (such a session stands on the
-- app its user has while it is live, as before).
ALTER TABLE passkeys ADD COLUMN made_by uuid REFERENCES sessions (id) ON DELETE SET NULL;
CREATE INDEX passkeys_made_by_idx ON passkeys (made_by) WHERE made_by IS NOT NULL;
ALTER TABLE recovery_codes ADD COLUMN made_by uuid REFERENCES sessions (id) ON DELETE SET NULL;
CREATE INDEX recovery_codes_made_by_idx ON recovery_codes (made_by) WHERE made_by IS NOT NULL;
ALTER TABLE totp_secrets
    ADD COLUMN id bigserial NOT NULL,
    ADD COLUMN made_by uuid REFERENCES sessions (id) ON DELETE SET NULL;
CREATE INDEX totp_secrets_made_by_idx ON totp_secrets (made_by) WHERE made_by IS NOT NULL;
ALTER TABLE sessions
    ADD COLUMN derived_from uuid[] NOT NULL DEFAULT '{}',
    ADD COLUMN totp_id bigint;
CREATE INDEX sessions_derived_from_idx ON sessions USING gin (derived_from);

-- The credential a device token's session signed in with (limits.Credential: the password, a
-- link, Google, a passkey by id, the authenticator app, a recovery code), so that the cap on a
-- user's device tokens retires the oldest of the same credential: a copy of one passkey signing
-- in again and again cannot evict the devices that used another. Tokens from before this
-- migration were issued with an unknown one ('').
ALTER TABLE device_tokens ADD COLUMN credential text NOT NULL DEFAULT '';
CREATE INDEX device_tokens_user_credential_idx ON device_tokens (user_id, credential);

-- +goose Down
DROP INDEX device_tokens_user_credential_idx;
ALTER TABLE device_tokens DROP COLUMN credential;
ALTER TABLE sessions DROP COLUMN totp_id, DROP COLUMN derived_from;
ALTER TABLE totp_secrets DROP COLUMN made_by, DROP COLUMN id;
ALTER TABLE recovery_codes DROP COLUMN made_by;
ALTER TABLE passkeys DROP COLUMN made_by;
