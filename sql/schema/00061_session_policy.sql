-- +goose Up
-- Each application's session policy: a session lives at most session_max_age_seconds after its
-- creation and session_idle_timeout_seconds after its last use; a remember_me session has no
-- idle timeout and lives at most remember_me_max_age_seconds (NULL: indefinitely). The defaults
-- are the documented 7 days and 72 hours, and no cap. Bounds: 5 minutes (a use is recorded at
-- most once a minute, so a shorter idle timeout would expire sessions in use) to 3650 days.
ALTER TABLE applications
    ADD COLUMN session_max_age_seconds bigint NOT NULL DEFAULT 604800
        CONSTRAINT applications_session_max_age_range CHECK (session_max_age_seconds BETWEEN 300 AND 315360000),
    ADD COLUMN session_idle_timeout_seconds bigint NOT NULL DEFAULT 259200
        CONSTRAINT applications_session_idle_timeout_range CHECK (session_idle_timeout_seconds BETWEEN 300 AND 315360000),
    ADD COLUMN remember_me_max_age_seconds bigint
        CONSTRAINT applications_remember_me_max_age_range CHECK (remember_me_max_age_seconds BETWEEN 300 AND 315360000);

-- What a session was created with (NULL: no bound): the latest it may expire (its creation plus
-- the policy's lifetime or remember_me cap then) and its idle timeout. Expiry is judged by these
-- and its application's policy now, the shorter winning: shortening a policy reaches live
-- sessions at once, while a longer one never stretches a session beyond what it was created
-- with. max_expires_at never changes, so the retention worker finds expired sessions by it.
ALTER TABLE sessions
    ADD COLUMN max_expires_at timestamptz,
    ADD COLUMN idle_timeout_seconds bigint;
UPDATE sessions SET max_expires_at = created_at + interval '7 days', idle_timeout_seconds = 259200
WHERE NOT remember_me;
CREATE INDEX sessions_max_expires_at_idx ON sessions (max_expires_at) WHERE max_expires_at IS NOT NULL;
DROP INDEX sessions_created_at_idx;

-- A deleted session could still be in use, and must leave every cache at once, unless it was
-- revoked or is past the latest it could expire (the retention worker deletes only those).
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION notify_sessions_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    payload text;
BEGIN
    FOR payload IN
        SELECT CASE WHEN count(*) = 1 THEN 'session:' || min(o.id::text) ELSE 'user:' || o.user_id END
        FROM old_rows o
        WHERE o.revoked_at IS NULL AND (o.max_expires_at IS NULL OR o.max_expires_at > now())
        GROUP BY o.user_id
    LOOP
        PERFORM pg_notify('planoauth_sessions', payload);
    END LOOP;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION notify_sessions_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    payload text;
BEGIN
    FOR payload IN
        SELECT CASE WHEN count(*) = 1 THEN 'session:' || min(o.id::text) ELSE 'user:' || o.user_id END
        FROM old_rows o
        WHERE o.revoked_at IS NULL AND (o.remember_me OR o.created_at > now() - interval '7 days')
        GROUP BY o.user_id
    LOOP
        PERFORM pg_notify('planoauth_sessions', payload);
    END LOOP;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE INDEX sessions_created_at_idx ON sessions (created_at) WHERE NOT remember_me;
DROP INDEX sessions_max_expires_at_idx;
ALTER TABLE sessions DROP COLUMN idle_timeout_seconds, DROP COLUMN max_expires_at;
ALTER TABLE applications DROP COLUMN remember_me_max_age_seconds, DROP COLUMN session_idle_timeout_seconds,
    DROP COLUMN session_max_age_seconds;
