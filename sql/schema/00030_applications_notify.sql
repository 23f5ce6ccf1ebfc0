-- +goose Up
-- Instances keep every application in memory (there are a handful), so that a token-checked
-- request joins no applications table and an application token costs no query. This channel
-- tells them at once that an application changed (a new token, new scopes); they reload.

-- +goose StatementBegin
CREATE FUNCTION notify_applications_reload() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('planoauth_applications', '');
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER applications_reload AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON applications
    FOR EACH STATEMENT EXECUTE FUNCTION notify_applications_reload();

-- Cached sessions no longer carry their application, so an application's change no longer
-- needs to empty the session cache.
DROP TRIGGER applications_notify ON applications;
DROP FUNCTION notify_applications_changed();

-- +goose Down
-- +goose StatementBegin
CREATE FUNCTION notify_applications_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('planoauth_sessions', '*');
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER applications_notify AFTER UPDATE OR DELETE ON applications
    FOR EACH STATEMENT EXECUTE FUNCTION notify_applications_changed();
DROP TRIGGER applications_reload ON applications;
DROP FUNCTION notify_applications_reload();
