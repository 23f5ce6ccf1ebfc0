-- name: CreateLiaisonUnlessExists :one
-- Gives a user the liaison role; no row when the user already has it (then GetLiaisonByUserID).
-- ON CONFLICT rather than a check first, so that two registrations of one liaison at once both
-- succeed.
INSERT INTO liaisons (user_id) VALUES (@user_id)
ON CONFLICT (user_id) DO NOTHING
RETURNING id;

-- name: GetLiaisonByUserID :one
SELECT id FROM liaisons WHERE user_id = @user_id;

-- name: GrantLiaisonClients :exec
-- Lets a liaison act for clients; grants it already has are kept.
INSERT INTO liaison_clients (liaison_id, client_id)
SELECT @liaison_id, unnest(@client_ids::bigint[])
ON CONFLICT DO NOTHING;

-- name: GrantLiaisonCompanies :exec
-- Lets a liaison act for companies; grants it already has are kept.
INSERT INTO liaison_companies (liaison_id, company_id)
SELECT @liaison_id, unnest(@company_ids::bigint[])
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
