-- +goose Up
-- Instances cache resolved session tokens for a few seconds; these notifications evict a cached
-- session everywhere the moment it is revoked or anything it shows changes.
-- Payloads: 'session:<id>', 'user:<id>', or '*' (everything).

-- +goose StatementBegin
CREATE FUNCTION notify_session_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('planoauth_sessions', 'session:' || COALESCE(NEW.id, OLD.id));
    RETURN NULL;
END;
$$;
CREATE FUNCTION notify_user_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('planoauth_sessions', 'user:' || COALESCE(NEW.id, OLD.id));
    RETURN NULL;
END;
$$;
CREATE FUNCTION notify_applications_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('planoauth_sessions', '*');
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER sessions_notify AFTER UPDATE OF revoked_at, role, scopes OR DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION notify_session_changed();
CREATE TRIGGER users_notify AFTER UPDATE OF email, first_name, last_name, remember_me, password_hash OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION notify_user_changed();
CREATE TRIGGER applications_notify AFTER UPDATE OR DELETE ON applications
    FOR EACH STATEMENT EXECUTE FUNCTION notify_applications_changed();

-- +goose Down
DROP TRIGGER applications_notify ON applications;
DROP TRIGGER users_notify ON users;
DROP TRIGGER sessions_notify ON sessions;
DROP FUNCTION notify_applications_changed(), notify_user_changed(), notify_session_changed();
