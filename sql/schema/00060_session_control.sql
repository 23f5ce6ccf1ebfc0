-- +goose Up
-- Session control for applications and employees: token introspection (application tokens
-- only), revoking a user's sessions and looking a user up by email (application tokens and
-- employees). Live employee sessions get the employee role's new scopes too, as a session's
-- scopes are its role's: an employee need not log in again to use them.
UPDATE applications
SET scopes = scopes || ARRAY['sessions.introspect', 'sessions.revoke', 'users.lookup'], updated_at = now()
WHERE NOT scopes @> ARRAY['sessions.introspect', 'sessions.revoke', 'users.lookup'];

UPDATE role_scopes
SET scopes = scopes || ARRAY['sessions.revoke', 'users.lookup']
WHERE role = 'employee' AND NOT scopes @> ARRAY['sessions.revoke', 'users.lookup'];

UPDATE sessions
SET scopes = scopes || ARRAY['sessions.revoke', 'users.lookup']
WHERE role = 'employee' AND revoked_at IS NULL AND NOT scopes @> ARRAY['sessions.revoke', 'users.lookup'];

-- +goose Down
UPDATE sessions SET scopes = array_remove(array_remove(scopes, 'sessions.revoke'), 'users.lookup')
WHERE role = 'employee';
UPDATE role_scopes SET scopes = array_remove(array_remove(scopes, 'sessions.revoke'), 'users.lookup')
WHERE role = 'employee';
UPDATE applications
SET scopes = array_remove(array_remove(array_remove(scopes, 'sessions.introspect'), 'sessions.revoke'), 'users.lookup');
