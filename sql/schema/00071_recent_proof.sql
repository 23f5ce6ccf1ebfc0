-- +goose Up
-- Review 3 of second factors (README, Second factors): a recent proof, not a recent sign-in,
-- guards every change of a user's factors, and a pending authenticator app belongs to the
-- session that began it, for a bounded number of wrong codes.

-- When the session last proved its user: its sign-in, then every second factor completed on it
-- (UpgradeSession). Sessions from before this migration proved it when they were made.
ALTER TABLE sessions ADD COLUMN proved_at timestamptz;
UPDATE sessions SET proved_at = created_at;
ALTER TABLE sessions ALTER COLUMN proved_at SET NOT NULL;

-- The session that began a pending enrolment (NULL once confirmed: the cascade never reaches a
-- confirmed app), and the codes sent to confirm it, each counted before it is checked (after
-- TOTPEnrolmentTries wrong ones it is over). A pending enrolment from before this migration has
-- no session to belong to: it is dropped (it lived 15 minutes at most; its user starts again
-- with mfa/totp_enroll).
DELETE FROM totp_secrets WHERE confirmed_at IS NULL;
ALTER TABLE totp_secrets
    ADD COLUMN session_id uuid REFERENCES sessions (id) ON DELETE CASCADE,
    ADD COLUMN tries integer NOT NULL DEFAULT 0,
    ADD CONSTRAINT totp_secrets_session_check CHECK ((confirmed_at IS NULL) = (session_id IS NOT NULL));
CREATE INDEX totp_secrets_session_id_idx ON totp_secrets (session_id) WHERE session_id IS NOT NULL;

-- A session's proof is what it may change: a new one reaches every instance's cache, as its
-- level does.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION notify_sessions_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    payload text;
BEGIN
    FOR payload IN
        SELECT CASE WHEN count(*) = 1 THEN 'session:' || min(changed.id::text) ELSE 'user:' || changed.user_id END
        FROM (
            SELECT n.id, n.user_id FROM new_rows n JOIN old_rows o ON o.id = n.id
            WHERE TG_OP = 'UPDATE' AND (n.revoked_at IS DISTINCT FROM o.revoked_at
                  OR n.role IS DISTINCT FROM o.role OR n.scopes IS DISTINCT FROM o.scopes
                  OR n.aal IS DISTINCT FROM o.aal OR n.methods IS DISTINCT FROM o.methods
                  OR n.proved_at IS DISTINCT FROM o.proved_at)
        ) changed
        GROUP BY changed.user_id
    LOOP
        PERFORM pg_notify('planoauth_sessions', payload);
    END LOOP;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION notify_sessions_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    payload text;
BEGIN
    FOR payload IN
        SELECT CASE WHEN count(*) = 1 THEN 'session:' || min(changed.id::text) ELSE 'user:' || changed.user_id END
        FROM (
            SELECT n.id, n.user_id FROM new_rows n JOIN old_rows o ON o.id = n.id
            WHERE TG_OP = 'UPDATE' AND (n.revoked_at IS DISTINCT FROM o.revoked_at
                  OR n.role IS DISTINCT FROM o.role OR n.scopes IS DISTINCT FROM o.scopes
                  OR n.aal IS DISTINCT FROM o.aal OR n.methods IS DISTINCT FROM o.methods)
        ) changed
        GROUP BY changed.user_id
    LOOP
        PERFORM pg_notify('planoauth_sessions', payload);
    END LOOP;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
ALTER TABLE totp_secrets DROP CONSTRAINT totp_secrets_session_check, DROP COLUMN tries, DROP COLUMN session_id;
ALTER TABLE sessions DROP COLUMN proved_at;
