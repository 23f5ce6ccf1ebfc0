-- +goose Up
-- A role record deleted outside PlanoAuth (the coexisting system's feed deletes employees,
-- liaisons and clients; an operator's SQL) takes its sessions with it, as PlanoAuth's own
-- removals do (RevokeRoleSessions): the user's live sessions acting with that role are revoked
-- when the deleting transaction commits (the trigger is deferred), unless the user holds the
-- role again by then (a feed that deletes and inserts its rows in one transaction). The
-- revocation moves revoked_at, so sessions_notify evicts them from every instance's cache.
--
-- Lock order. PlanoAuth's own removals lock the user's row, then change its sessions; a sign-in
-- holds its user's row for share (HoldUserForSession) before it reads the roles and creates its
-- session. The deletion holds the role row already when this trigger runs, so the trigger takes
-- the user's row next (for no key update, which a sign-in's share lock holds off), then revokes:
-- a sign-in in flight that read the role before has committed its session by then, and the
-- revocation, a new statement, sees it; a sign-in that begins later waits for the deletion's
-- commit and finds the role gone. A request that share-locks the user's row and then the role
-- record (checkGrantor, then lockEmployee or lockGrantSource) takes them in the other order:
-- concurrent with a deletion of its own user's record, PostgreSQL aborts one of the two as a
-- deadlock (the request answers application-crash; the feed's transaction fails and is
-- retried), and nothing is half-written either way.

-- +goose StatementBegin
CREATE FUNCTION revoke_role_sessions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM users u WHERE u.id = OLD.user_id FOR NO KEY UPDATE;
    UPDATE sessions s SET revoked_at = now()
    WHERE s.user_id = OLD.user_id AND s.role = TG_ARGV[0] AND s.revoked_at IS NULL
      AND NOT (TG_ARGV[0] = 'employee' AND EXISTS (SELECT 1 FROM employees e WHERE e.user_id = s.user_id))
      AND NOT (TG_ARGV[0] = 'client' AND EXISTS (SELECT 1 FROM clients c WHERE c.user_id = s.user_id))
      AND NOT (TG_ARGV[0] = 'liaison' AND EXISTS (SELECT 1 FROM liaisons l WHERE l.user_id = s.user_id AND l.accepted_at IS NOT NULL));
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

-- Deferred to the commit, so that the transaction's later statements (a record given again)
-- count; row by row, as constraint triggers are.
CREATE CONSTRAINT TRIGGER employees_revoke_sessions AFTER DELETE ON employees
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION revoke_role_sessions('employee');
CREATE CONSTRAINT TRIGGER liaisons_revoke_sessions AFTER DELETE ON liaisons
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION revoke_role_sessions('liaison');
CREATE CONSTRAINT TRIGGER clients_revoke_sessions AFTER DELETE ON clients
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION revoke_role_sessions('client');

-- Sessions whose records were deleted before this migration are revoked now.
UPDATE sessions s SET revoked_at = now()
WHERE s.revoked_at IS NULL
  AND ((s.role = 'employee' AND NOT EXISTS (SELECT 1 FROM employees e WHERE e.user_id = s.user_id))
    OR (s.role = 'client' AND NOT EXISTS (SELECT 1 FROM clients c WHERE c.user_id = s.user_id))
    OR (s.role = 'liaison' AND NOT EXISTS (SELECT 1 FROM liaisons l WHERE l.user_id = s.user_id AND l.accepted_at IS NOT NULL)));

-- +goose Down
DROP TRIGGER clients_revoke_sessions ON clients;
DROP TRIGGER liaisons_revoke_sessions ON liaisons;
DROP TRIGGER employees_revoke_sessions ON employees;
DROP FUNCTION revoke_role_sessions();
