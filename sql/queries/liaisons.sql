-- name: CreateLiaisonUnlessExists :one
-- Gives a user a liaison record waiting for its invitation to be accepted; no row when the user
-- has one already (then GetLiaisonByUserID). ON CONFLICT rather than a check first, so that two
-- registrations of one liaison at once both succeed.
INSERT INTO liaisons (user_id, invited_by_user_id) VALUES (@user_id, sqlc.narg(invited_by_user_id))
ON CONFLICT (user_id) DO NOTHING
RETURNING id, accepted_at;

-- name: GetLiaisonByUserID :one
-- A user's liaison record; accepted_at is NULL while its invitation waits.
SELECT id, accepted_at FROM liaisons WHERE user_id = @user_id;

-- name: AcceptLiaison :execrows
-- Accepts a liaison invitation: the role takes effect. No row when it was accepted before.
UPDATE liaisons SET accepted_at = @now, updated_at = now() WHERE id = @id AND accepted_at IS NULL;

-- name: GrantLiaisonClients :exec
-- Lets a liaison act for clients, recording who granted them; grants it already has are kept
-- (with their first grantor).
INSERT INTO liaison_clients (liaison_id, client_id, granted_by_user_id)
SELECT @liaison_id, unnest(@client_ids::bigint[]), sqlc.narg(granted_by_user_id)
ON CONFLICT DO NOTHING;

-- name: GrantLiaisonCompanies :exec
-- Lets a liaison act for companies, recording who granted them; grants it already has are kept.
INSERT INTO liaison_companies (liaison_id, company_id, granted_by_user_id)
SELECT @liaison_id, unnest(@company_ids::bigint[]), sqlc.narg(granted_by_user_id)
ON CONFLICT DO NOTHING;

-- name: ListLiaisonClientProfiles :many
-- The clients a liaison acts for, in id order, at most @max_rows.
SELECT cp.* FROM client_profiles cp
JOIN liaison_clients lc ON lc.client_id = cp.id
WHERE lc.liaison_id = @liaison_id
ORDER BY cp.id LIMIT @max_rows;

-- name: ListLiaisonCompanies :many
-- The companies a liaison acts for, in id order, at most @max_rows.
SELECT co.* FROM companies co
JOIN liaison_companies lc ON lc.company_id = co.id
WHERE lc.liaison_id = @liaison_id
ORDER BY co.id LIMIT @max_rows;

-- name: DeleteClientGrantsBy :many
-- Takes back every client a user granted to liaisons (its email's first proof removes what the
-- unverified account set up; DeleteCompanyGrantsBy does the same for companies), and returns
-- each grant taken back with the liaison's user, for the audit trail.
WITH gone AS (
    DELETE FROM liaison_clients g WHERE g.granted_by_user_id = @user_id RETURNING g.liaison_id, g.client_id
)
SELECT l.user_id AS liaison_user_id, gone.client_id AS granted_id
FROM gone JOIN liaisons l ON l.id = gone.liaison_id;

-- name: DeleteCompanyGrantsBy :many
WITH gone AS (
    DELETE FROM liaison_companies g WHERE g.granted_by_user_id = @user_id RETURNING g.liaison_id, g.company_id
)
SELECT l.user_id AS liaison_user_id, gone.company_id AS granted_id
FROM gone JOIN liaisons l ON l.id = gone.liaison_id;

-- name: DeleteGrantsOfCompanyBy :many
-- Takes back the grants of a company that a user made to liaisons (when it leaves the company,
-- what it could grant as a member goes with it).
WITH gone AS (
    DELETE FROM liaison_companies g WHERE g.company_id = @company_id AND g.granted_by_user_id = @user_id
    RETURNING g.liaison_id, g.company_id
)
SELECT l.user_id AS liaison_user_id, gone.company_id AS granted_id
FROM gone JOIN liaisons l ON l.id = gone.liaison_id;

-- name: DeleteLiaisonsInvitedBy :many
-- Removes the liaison records a user's liaisons/register created that act for nothing any more
-- (run after DeleteClientGrantsBy and DeleteCompanyGrantsBy, in their transaction). Returns their users, whose liaison sessions
-- the caller revokes.
DELETE FROM liaisons l
WHERE l.invited_by_user_id = @user_id
  AND NOT EXISTS (SELECT 1 FROM liaison_clients c WHERE c.liaison_id = l.id)
  AND NOT EXISTS (SELECT 1 FROM liaison_companies c WHERE c.liaison_id = l.id)
RETURNING l.user_id;
