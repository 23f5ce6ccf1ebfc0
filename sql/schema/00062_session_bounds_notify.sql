-- +goose Up
-- A session policy shortened lowers the stored bounds of its application's live sessions
-- (SetApplicationSessionPolicy), so that a session it expired stays expired when a longer
-- policy comes back. The instances' caches hold sessions with their bounds, so lowering them
-- notifies as every change a session shows does ('session:<id>', or 'user:<id>' per user when
-- a statement changed several), in a trigger of its own (notify_sessions_changed is redefined by
-- later migrations; transition tables allow no column list, hence the filter).

-- +goose StatementBegin
CREATE FUNCTION notify_session_bounds_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    payload text;
BEGIN
    FOR payload IN
        SELECT CASE WHEN count(*) = 1 THEN 'session:' || min(changed.id::text) ELSE 'user:' || changed.user_id END
        FROM (
            SELECT n.id, n.user_id FROM new_rows n JOIN old_rows o ON o.id = n.id
            WHERE n.max_expires_at IS DISTINCT FROM o.max_expires_at
               OR n.idle_timeout_seconds IS DISTINCT FROM o.idle_timeout_seconds
        ) changed
        GROUP BY changed.user_id
    LOOP
        PERFORM pg_notify('planoauth_sessions', payload);
    END LOOP;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER sessions_notify_bounds AFTER UPDATE ON sessions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION notify_session_bounds_changed();

-- +goose Down
DROP TRIGGER sessions_notify_bounds ON sessions;
DROP FUNCTION notify_session_bounds_changed();
