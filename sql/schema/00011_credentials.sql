-- +goose Up
-- A user's credential version counts the changes of what a password log-in checks: it moves
-- whenever the password is set, replaced or dropped (never when a hash is only upgraded to
-- stronger parameters). A password log-in creates its session only if the version it read
-- before checking the password is still the user's (CreateSession), so a log-in in flight
-- cannot outlive the change.
--
-- Existing users: email_verified_at (00010) is already set for every user who proved the email
-- (a sign-in link, or Google with a verified email); everyone else stays unverified. The email
-- of an account registered with a password, or created with one by somebody else, was never
-- proven; counting it verified would let whoever chose that password keep it past its owner's
-- first proof (which is when an unverified account's password and sessions are dropped). Those
-- users prove their email once (a sign-in link or Google) before they may grant anything.
ALTER TABLE users ADD COLUMN credential_version bigint NOT NULL DEFAULT 1;

-- Cached sessions show whether their user's email is verified: evict them when it changes.
DROP TRIGGER users_notify ON users;
CREATE TRIGGER users_notify
    AFTER UPDATE OF email, first_name, last_name, remember_me, password_hash, email_verified_at, credential_version
    OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION notify_user_changed();

-- +goose Down
DROP TRIGGER users_notify ON users;
CREATE TRIGGER users_notify AFTER UPDATE OF email, first_name, last_name, remember_me, password_hash OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION notify_user_changed();
ALTER TABLE users DROP COLUMN credential_version;
