-- +goose Up
-- What the account knows of a caller goes with the factor it stood on (README, Limits and
-- abuse): a device token records the session it was issued with, and a known address the
-- session whose sign-in last made it known, so that removing a second factor, which ends the
-- sessions that stood on it, drops theirs in the same transaction (limits.ForgetEnded; signing
-- a session out drops nothing). A session's row is kept while a device token or a known address
-- names it (retention, DeleteOldSessions), so that a session ended long ago still says whose
-- they were.
--
-- Rows from before this migration did not record it: they stay as they are, bound to no
-- session (no factor's removal drops them; they expire, or a password change forgets them).
ALTER TABLE device_tokens ADD COLUMN session_id uuid REFERENCES sessions (id) ON DELETE SET NULL;
CREATE INDEX device_tokens_session_id_idx ON device_tokens (session_id);
ALTER TABLE known_addresses ADD COLUMN session_id uuid REFERENCES sessions (id) ON DELETE SET NULL;
CREATE INDEX known_addresses_session_id_idx ON known_addresses (session_id);

-- +goose Down
ALTER TABLE known_addresses DROP COLUMN session_id;
ALTER TABLE device_tokens DROP COLUMN session_id;
