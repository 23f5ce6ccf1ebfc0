-- +goose Up
-- Each instance now keeps the users of token-checked requests in memory (auth.SessionCache), so
-- every change of a user row must reach it, not only the columns a session showed: mfa_enabled
-- and phone were missing. A user row changes rarely (a profile edit, a proof, a password, a
-- factor), so one notification per changed row costs little.
DROP TRIGGER users_notify ON users;
CREATE TRIGGER users_notify AFTER UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION notify_user_changed();

-- +goose Down
DROP TRIGGER users_notify ON users;
CREATE TRIGGER users_notify
    AFTER UPDATE OF email, first_name, last_name, remember_me, password_hash, email_verified_at, credential_version
    OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION notify_user_changed();
