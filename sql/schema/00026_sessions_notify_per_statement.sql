-- +goose Up
-- Session notifications per statement instead of per row: a statement that revokes a user's
-- sessions (sessions/delete with all, the first proof of an email, `planoauth sessions revoke`)
-- sends one 'user:<id>' per user it changed, rather than one 'session:<id>' per session, and a
-- statement that changes one session sends 'session:<id>'. The instances evict through their
-- indexes (internal/auth/cache.go). A recorded use (last_used_at) changes nothing a session
-- shows and sends nothing. Deleting sessions notifies only for those that could still be in
-- use (not revoked, and not past their longest lifetime), so the retention worker's deletions
-- of revoked and expired sessions send nothing.

DROP TRIGGER sessions_notify ON sessions;
DROP FUNCTION notify_session_changed();

-- +goose StatementBegin
CREATE FUNCTION notify_sessions_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    payload text;
BEGIN
    FOR payload IN
        SELECT CASE WHEN count(*) = 1 THEN 'session:' || min(changed.id::text) ELSE 'user:' || changed.user_id END
        FROM (
            SELECT n.id, n.user_id FROM new_rows n JOIN old_rows o ON o.id = n.id
            WHERE TG_OP = 'UPDATE' AND (n.revoked_at IS DISTINCT FROM o.revoked_at
                  OR n.role IS DISTINCT FROM o.role OR n.scopes IS DISTINCT FROM o.scopes)
        ) changed
        GROUP BY changed.user_id
    LOOP
        PERFORM pg_notify('planoauth_sessions', payload);
    END LOOP;
    RETURN NULL;
END;
$$;

CREATE FUNCTION notify_sessions_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
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

CREATE TRIGGER sessions_notify AFTER UPDATE ON sessions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION notify_sessions_changed();
CREATE TRIGGER sessions_notify_deleted AFTER DELETE ON sessions
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION notify_sessions_deleted();

-- +goose Down
DROP TRIGGER sessions_notify_deleted ON sessions;
DROP TRIGGER sessions_notify ON sessions;
DROP FUNCTION notify_sessions_deleted(), notify_sessions_changed();
-- +goose StatementBegin
CREATE FUNCTION notify_session_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('planoauth_sessions', 'session:' || COALESCE(NEW.id, OLD.id));
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER sessions_notify AFTER UPDATE OF revoked_at, role, scopes OR DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION notify_session_changed();
