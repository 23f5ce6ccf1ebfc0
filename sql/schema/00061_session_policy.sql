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

-- What a session was created with (NULL: no bound). Expiry is judged by the shorter of these
-- and its application's policy now: shortening a policy reaches live sessions at once, while a
-- longer one never stretches a session beyond what it was created with.
ALTER TABLE sessions
    ADD COLUMN max_age_seconds bigint,
    ADD COLUMN idle_timeout_seconds bigint;
UPDATE sessions SET max_age_seconds = 604800, idle_timeout_seconds = 259200 WHERE NOT remember_me;

-- +goose Down
ALTER TABLE sessions DROP COLUMN idle_timeout_seconds, DROP COLUMN max_age_seconds;
ALTER TABLE applications DROP COLUMN remember_me_max_age_seconds, DROP COLUMN session_idle_timeout_seconds,
    DROP COLUMN session_max_age_seconds;
