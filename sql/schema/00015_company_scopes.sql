-- +goose Up
-- The scopes of the company membership routes. An application's own token and an employee may
-- list, approve and remove the members of any company; a client may list, approve and remove
-- those of the enterprise company it owns (checked by the handlers) and ask to join a company.
-- Liaisons get none. Sessions keep the scopes they were created with: these reach new sessions.
UPDATE applications
SET scopes = scopes || '{companies.members,companies.approve_member,companies.remove_member}'::text[], updated_at = now()
WHERE NOT scopes @> '{companies.members}';
UPDATE role_scopes
SET scopes = scopes || '{companies.members,companies.approve_member,companies.remove_member}'::text[]
WHERE role = 'employee' AND NOT scopes @> '{companies.members}';
UPDATE role_scopes
SET scopes = scopes || '{companies.members,companies.approve_member,companies.remove_member,companies.request_member}'::text[]
WHERE role = 'client' AND NOT scopes @> '{companies.members}';

-- +goose Down
UPDATE role_scopes SET scopes = array(SELECT s FROM unnest(scopes) s WHERE s NOT LIKE 'companies.%');
UPDATE applications SET scopes = array(SELECT s FROM unnest(scopes) s WHERE s NOT LIKE 'companies.%');
