-- name: CreateCompany :one
-- Creates the company of an enterprise client (SetCompanyOwner then names the client).
INSERT INTO companies (name, enterprise) VALUES (@name, @enterprise)
RETURNING *;

-- name: SetCompanyOwner :exec
-- Records the client whose registration created an enterprise company as its owner.
UPDATE companies SET owner_client_id = @client_id::bigint, updated_at = now() WHERE id = @id;

-- name: CompanyExists :one
SELECT EXISTS (SELECT 1 FROM companies WHERE id = @id);

-- name: GetCompany :one
SELECT * FROM companies WHERE id = @id;

-- name: ListCompanies :many
-- Companies in id order, at most @max_rows: what an employee or application may grant.
SELECT * FROM companies ORDER BY id LIMIT @max_rows;

-- name: ListCompaniesByID :many
-- The companies of @ids that exist, in id order.
SELECT * FROM companies WHERE id = ANY (@ids::bigint[]) ORDER BY id;

-- name: RequestCompanyMembership :exec
-- Records a client's request to join a company, replacing an earlier request of the client.
-- Nothing is recorded for a company that does not exist, or that the client is a member of:
-- either way the caller is answered alike, so a request reveals no company ids.
INSERT INTO company_member_requests (client_id, company_id)
SELECT @client_id, co.id FROM companies co
WHERE co.id = @company_id
  AND NOT EXISTS (SELECT 1 FROM clients c WHERE c.id = @client_id AND c.company_id = co.id)
ON CONFLICT (client_id) DO UPDATE SET company_id = EXCLUDED.company_id, created_at = now();

-- name: ListCompanyMembers :many
-- The members of a company, its owner first, then in client id order, at most @max_rows.
SELECT sqlc.embed(cp), (u.email_verified_at IS NOT NULL)::boolean AS email_verified,
       (co.owner_client_id IS NOT DISTINCT FROM cp.id)::boolean AS owner
FROM client_profiles cp
JOIN users u ON u.id = cp.user_id
JOIN companies co ON co.id = cp.company_id
WHERE cp.company_id = @company_id::bigint
ORDER BY (co.owner_client_id IS NOT DISTINCT FROM cp.id) DESC, cp.id
LIMIT @max_rows;

-- name: ListCompanyMemberRequests :many
-- The clients asking to join a company, oldest request first, at most @max_rows.
SELECT sqlc.embed(cp), (u.email_verified_at IS NOT NULL)::boolean AS email_verified,
       r.created_at AS requested_at
FROM company_member_requests r
JOIN client_profiles cp ON cp.id = r.client_id
JOIN users u ON u.id = cp.user_id
WHERE r.company_id = @company_id
ORDER BY r.created_at, r.client_id
LIMIT @max_rows;

-- name: LockClientUser :one
-- A client's user, its company, whether its email is proven, and the company it owns (0: none), with a share
-- lock on the user, so that the membership granted in the same transaction cannot race the
-- user's first proof (which takes the user's row before its requests).
SELECT c.user_id, c.company_id, (u.email_verified_at IS NOT NULL)::boolean AS email_verified,
       COALESCE((SELECT o.id FROM companies o WHERE o.owner_client_id = c.id ORDER BY o.id LIMIT 1), 0)::bigint AS owned_company_id
FROM clients c JOIN users u ON u.id = c.user_id
WHERE c.id = @client_id
FOR SHARE OF u;

-- name: TakeCompanyMemberRequest :execrows
-- Removes a client's pending request to join a company (approved or refused).
DELETE FROM company_member_requests WHERE client_id = @client_id AND company_id = @company_id;

-- name: SetClientCompany :exec
-- Makes a client a member of a company (a client is a member of one company at most).
UPDATE clients SET company_id = @company_id::bigint, updated_at = now() WHERE id = @id;

-- name: RemoveClientFromCompany :one
-- Ends a client's membership of a company and returns its user; no row when it was not a member.
UPDATE clients SET company_id = NULL, updated_at = now() WHERE id = @id AND company_id = @company_id::bigint
RETURNING user_id;

-- name: DeleteMemberRequestsOfUser :many
-- Takes back the membership requests of a user's client (its email's first proof removes what
-- the unverified account set up), and returns them.
DELETE FROM company_member_requests r USING clients c
WHERE c.id = r.client_id AND c.user_id = @user_id
RETURNING r.client_id, r.company_id;
