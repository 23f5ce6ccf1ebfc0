-- name: CreateLiaisonUnlessExists :execrows
-- Gives a user a liaison record waiting for its invitation to be accepted, unless the user has one
-- already (then LockLiaisonByUserID reads it). ON CONFLICT rather than a check first, so that two
-- registrations of one liaison at once both succeed.
INSERT INTO liaisons (user_id, invited_by_user_id) VALUES (@user_id, sqlc.narg(invited_by_user_id))
ON CONFLICT (user_id) DO NOTHING;

-- name: LockLiaisonByUserID :one
-- A user's liaison record, locked until the transaction ends so that registrations of one liaison
-- decide one after another whether an invitation is pending (FOR NO KEY UPDATE: grants, whose
-- foreign keys only key-share the row, are not held up).
SELECT id, accepted_at FROM liaisons WHERE user_id = @user_id FOR NO KEY UPDATE;

-- name: GetLiaisonByUserID :one
-- A user's liaison record; accepted_at is NULL while its invitation waits.
SELECT id, accepted_at FROM liaisons WHERE user_id = @user_id;

-- name: LockAcceptedLiaisonByUserID :one
-- The user's accepted liaison record, share-locked: what a liaison grants rests on it.
SELECT id FROM liaisons WHERE user_id = @user_id AND accepted_at IS NOT NULL FOR SHARE;

-- name: AcceptLiaison :execrows
-- Accepts a liaison invitation: the role takes effect. No row when it was accepted before.
UPDATE liaisons SET accepted_at = @now, updated_at = now() WHERE id = @id AND accepted_at IS NULL;

-- name: GrantLiaisonClients :exec
-- Offers a liaison clients, recording who granted them (@granted_by_user_id) and through which
-- liaison's grant of the same client (@via_liaison_id: the grantor's own, when it acts as a
-- liaison; NULL when the grantor holds the client on its own account). The offer takes effect
-- when the liaison accepts the grantor's invitation (AcceptLiaisonOffers). An accepted grant is
-- kept as it is; an offer not accepted yet is replaced by the newer one, whose invitation then
-- accepts it.
INSERT INTO liaison_clients (liaison_id, client_id, granted_by_user_id, via_liaison_id, granted_at)
SELECT @liaison_id, unnest(@client_ids::bigint[]), sqlc.narg(granted_by_user_id), sqlc.narg(via_liaison_id), @now
ON CONFLICT (liaison_id, client_id) DO UPDATE
SET granted_by_user_id = EXCLUDED.granted_by_user_id, via_liaison_id = EXCLUDED.via_liaison_id, granted_at = EXCLUDED.granted_at
WHERE liaison_clients.accepted_at IS NULL;

-- name: GrantLiaisonCompanies :exec
-- GrantLiaisonClients for companies.
INSERT INTO liaison_companies (liaison_id, company_id, granted_by_user_id, via_liaison_id, granted_at)
SELECT @liaison_id, unnest(@company_ids::bigint[]), sqlc.narg(granted_by_user_id), sqlc.narg(via_liaison_id), @now
ON CONFLICT (liaison_id, company_id) DO UPDATE
SET granted_by_user_id = EXCLUDED.granted_by_user_id, via_liaison_id = EXCLUDED.via_liaison_id, granted_at = EXCLUDED.granted_at
WHERE liaison_companies.accepted_at IS NULL;

-- name: AcceptLiaisonOffers :many
-- Accepts what a user offered a liaison (its invitation link was used): those grants take effect.
-- Returns each grant accepted (kind 'client' or 'company'), for the audit trail.
WITH clients AS (
    UPDATE liaison_clients lc SET accepted_at = @now::timestamptz
    WHERE lc.liaison_id = @liaison_id::bigint AND lc.granted_by_user_id = @inviter_id::bigint AND lc.accepted_at IS NULL
    RETURNING lc.client_id
), companies AS (
    UPDATE liaison_companies co SET accepted_at = @now::timestamptz
    WHERE co.liaison_id = @liaison_id::bigint AND co.granted_by_user_id = @inviter_id::bigint AND co.accepted_at IS NULL
    RETURNING co.company_id
)
SELECT 'client'::text AS kind, client_id AS granted_id FROM clients
UNION ALL
SELECT 'company'::text AS kind, company_id AS granted_id FROM companies;

-- name: LockAcceptedLiaisonClients :many
-- Which of @client_ids a liaison acts for, share-locked until the transaction ends: a grant made
-- through them holds them, so that taking one back waits for the grant, then takes it back too.
SELECT client_id FROM liaison_clients
WHERE liaison_id = @liaison_id AND client_id = ANY (@client_ids::bigint[]) AND accepted_at IS NOT NULL
FOR SHARE;

-- name: LockAcceptedLiaisonCompanies :many
-- LockAcceptedLiaisonClients for companies.
SELECT company_id FROM liaison_companies
WHERE liaison_id = @liaison_id AND company_id = ANY (@company_ids::bigint[]) AND accepted_at IS NOT NULL
FOR SHARE;

-- name: ListLiaisonClientProfiles :many
-- The clients a liaison acts for (accepted grants), in id order, at most @max_rows.
SELECT cp.* FROM client_profiles cp
JOIN liaison_clients lc ON lc.client_id = cp.id
WHERE lc.liaison_id = @liaison_id AND lc.accepted_at IS NOT NULL
ORDER BY cp.id LIMIT @max_rows;

-- name: ListLiaisonCompanies :many
-- The companies a liaison acts for (accepted grants), in id order, at most @max_rows.
SELECT co.* FROM companies co
JOIN liaison_companies lc ON lc.company_id = co.id
WHERE lc.liaison_id = @liaison_id AND lc.accepted_at IS NOT NULL
ORDER BY co.id LIMIT @max_rows;

-- name: DeleteClientGrantsBy :many
-- Takes back every client a user granted or offered to liaisons (its email's first proof removes
-- what the unverified account set up; DeleteCompanyGrantsBy does the same for companies), and
-- with them every grant made through them, and through those, and so on (deleted here rather
-- than left to liaison_clients_source_fkey's cascade, so that each is returned). Returns each
-- grant taken back with the liaison's user, for the audit trail.
WITH RECURSIVE taken AS (
    SELECT g.liaison_id, g.client_id FROM liaison_clients g WHERE g.granted_by_user_id = @user_id
    UNION
    SELECT d.liaison_id, d.client_id FROM liaison_clients d
    JOIN taken t ON d.via_liaison_id = t.liaison_id AND d.client_id = t.client_id
), gone AS (
    DELETE FROM liaison_clients g USING taken t WHERE g.liaison_id = t.liaison_id AND g.client_id = t.client_id
    RETURNING g.liaison_id, g.client_id
)
SELECT l.user_id AS liaison_user_id, gone.client_id AS granted_id
FROM gone JOIN liaisons l ON l.id = gone.liaison_id;

-- name: DeleteCompanyGrantsBy :many
WITH RECURSIVE taken AS (
    SELECT g.liaison_id, g.company_id FROM liaison_companies g WHERE g.granted_by_user_id = @user_id
    UNION
    SELECT d.liaison_id, d.company_id FROM liaison_companies d
    JOIN taken t ON d.via_liaison_id = t.liaison_id AND d.company_id = t.company_id
), gone AS (
    DELETE FROM liaison_companies g USING taken t WHERE g.liaison_id = t.liaison_id AND g.company_id = t.company_id
    RETURNING g.liaison_id, g.company_id
)
SELECT l.user_id AS liaison_user_id, gone.company_id AS granted_id
FROM gone JOIN liaisons l ON l.id = gone.liaison_id;

-- name: DeleteGrantsOfCompanyBy :many
-- Takes back the grants of a company that a user made to liaisons as its member (when it leaves
-- the company, what it could grant as a member goes with it; what it granted as a liaison rests
-- on its liaison grant instead), and every grant made through them, and so on (see
-- DeleteClientGrantsBy). Returns each grant taken back with the liaison's user, for the audit trail.
WITH RECURSIVE taken AS (
    SELECT g.liaison_id, g.company_id FROM liaison_companies g
    WHERE g.company_id = @company_id AND g.granted_by_user_id = @user_id AND g.via_liaison_id IS NULL
    UNION
    SELECT d.liaison_id, d.company_id FROM liaison_companies d
    JOIN taken t ON d.via_liaison_id = t.liaison_id AND d.company_id = t.company_id
), gone AS (
    DELETE FROM liaison_companies g USING taken t WHERE g.liaison_id = t.liaison_id AND g.company_id = t.company_id
    RETURNING g.liaison_id, g.company_id
)
SELECT l.user_id AS liaison_user_id, gone.company_id AS granted_id
FROM gone JOIN liaisons l ON l.id = gone.liaison_id;

-- name: LockProverAndLiaisons :exec
-- Locks, for update in the order of their ids, the row of a user whose email is being proven and
-- those of the users of the liaison records it created while unverified (older versions allowed
-- it), first in the proof's transaction, before any link: the first proof takes those liaisons
-- back and ends links (LockLiaisonInvitationsBy, endVerifications), and a revocation by one of
-- them as an employee (sessions/revoke: her row, then the user's, in id order), a sign-in of
-- theirs in flight (its user's row) or another link of theirs in flight would otherwise each wait
-- for the other. The user is @user_id or, for a link about to be used (before UseLink or
-- UseLinkByID marks it), the user of the link of @token_hash or of @link_id.
WITH prover AS (
    SELECT coalesce(sqlc.narg(user_id)::bigint,
                    (SELECT m.user_id FROM magic_links m WHERE m.token_hash = sqlc.narg(token_hash)),
                    (SELECT m.user_id FROM magic_links m WHERE m.id = sqlc.narg(link_id))) AS id
)
SELECT u.id FROM users u, prover p
WHERE u.id = p.id
   OR u.id IN (SELECT l.user_id FROM liaisons l JOIN users i ON i.id = l.invited_by_user_id
               WHERE l.invited_by_user_id = p.id AND i.email_verified_at IS NULL)
ORDER BY u.id FOR UPDATE OF u;

-- name: LockLiaisonInvitationsBy :exec
-- Locks, for update in the order of their ids, the invitation links of the liaison records that
-- an unverified user's liaisons/register created (older versions allowed it), before the first
-- proof of the user's email takes those records back (DeleteLiaisonsInvitedBy, whose deletion
-- takes the links with it). Run after LockProverAndLiaisons: an acceptance in flight holds its
-- user's row (its own proof's LockProverAndLiaisons) before it takes its link (UseLink), so that
-- one of the two waits for the other at the liaison's row, where each held what the other wanted.
SELECT m.id FROM magic_links m JOIN liaisons l ON l.id = m.liaison_id JOIN users i ON i.id = l.invited_by_user_id
WHERE l.invited_by_user_id = @user_id AND i.email_verified_at IS NULL ORDER BY m.id FOR UPDATE OF m;

-- name: DeleteLiaisonsInvitedBy :many
-- Removes the liaison records a user's liaisons/register created that act for nothing and are
-- offered nothing any more (run after DeleteClientGrantsBy and DeleteCompanyGrantsBy, in their
-- transaction). Returns their users, whose liaison sessions the caller revokes.
DELETE FROM liaisons l
WHERE l.invited_by_user_id = @user_id
  AND NOT EXISTS (SELECT 1 FROM liaison_clients c WHERE c.liaison_id = l.id)
  AND NOT EXISTS (SELECT 1 FROM liaison_companies c WHERE c.liaison_id = l.id)
RETURNING l.user_id;
