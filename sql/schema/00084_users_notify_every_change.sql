-- +goose Up
-- Each instance now keeps the users of token-checked requests in memory (auth.SessionCache), even
-- with its session cache off, so every change of a user row must reach it, not only of the
-- columns a session showed (phone and updated_at were not notified; mfa_enabled had a trigger of
-- its own, which this one replaces). A user row changes rarely (a profile, a proof, a password,
-- a factor), so a notification per changed row costs little.
DROP TRIGGER users_notify ON users;
DROP TRIGGER users_mfa_notify ON users;
DROP FUNCTION notify_user_mfa_changed();
CREATE TRIGGER users_notify AFTER UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION notify_user_changed();

-- +goose Down
DROP TRIGGER users_notify ON users;
CREATE TRIGGER users_notify
    AFTER UPDATE OF email, first_name, last_name, remember_me, password_hash, email_verified_at, credential_version
    OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION notify_user_changed();
-- +goose StatementBegin
CREATE FUNCTION notify_user_mfa_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('planoauth_sessions', 'user:' || NEW.id);
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER users_mfa_notify AFTER UPDATE OF mfa_enabled ON users
    FOR EACH ROW WHEN (OLD.mfa_enabled IS DISTINCT FROM NEW.mfa_enabled)
    EXECUTE FUNCTION notify_user_mfa_changed();
