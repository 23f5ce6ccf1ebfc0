-- name: CreateLink :one
-- Stores an emailed link of a kind for the user and application it is for: its token's hash,
-- and its code's hash (NULL for a link no email carries: a page's hand-over). A link sent at
-- once carries both; one sent with a queued email has neither (NULL) until the outbox worker
-- mints them as it sends the email (MintLinkToken). An invitation to be a liaison names the liaison role it accepts
-- and who sent it (whose offers it accepts). code_challenge is the PKCE challenge the request
-- named (NULL: none), which a page's hand-over (@handover) carries on.
INSERT INTO magic_links (kind, token_hash, code_hash, user_id, application_id, redirect_url, expires_at, created_at, liaison_id,
                         invited_by_user_id, code_challenge, handover)
VALUES (@kind, sqlc.narg(token_hash), sqlc.narg(code_hash), @user_id, @application_id, @redirect_url, @expires_at, @now,
        sqlc.narg(liaison_id), sqlc.narg(invited_by_user_id), sqlc.narg(code_challenge), @handover)
RETURNING id;

-- name: MintLinkToken :one
-- Gives a queued email's link its token and code (NULL when the email shows none) as the email
-- is sent; a new attempt replaces those of an earlier one, so one token and one code at most work. The tries already taken of
-- the code stay counted (a retried email buys no guesses). It returns the link's kind (which
-- page it opens); no row when the link was used or expired.
UPDATE magic_links SET token_hash = @token_hash, code_hash = @code_hash
WHERE id = @id AND used_at IS NULL AND expires_at > @now
RETURNING kind;

-- name: GetLinkByTokenHash :one
-- A link as it is, used or not, with its application's slug: what a page shows before its
-- button is pressed, and how a refused link is explained (used, expired, another application).
SELECT sqlc.embed(m), a.slug AS application
FROM magic_links m
JOIN applications a ON a.id = m.application_id
WHERE m.token_hash = @token_hash;

-- name: UseLink :one
-- Uses a link of one of @kinds: one statement that matches only an unused, unexpired link (of
-- the application, when one is named), so that under concurrency exactly one caller gets the row.
-- A hand-over's PKCE verifier is checked on the row returned, in the same transaction, which
-- rolls back when it is missing or wrong (the link stays usable).
UPDATE magic_links m SET used_at = @now::timestamptz
FROM applications a
WHERE m.token_hash = @token_hash AND m.kind = ANY (@kinds::text[]) AND a.id = m.application_id
  AND (sqlc.narg(application)::text IS NULL OR a.slug = sqlc.narg(application))
  AND m.used_at IS NULL AND m.expires_at > @now
RETURNING m.id, m.user_id, m.application_id, m.redirect_url, m.kind, m.liaison_id, m.invited_by_user_id, m.code_challenge, m.handover,
          a.slug AS application;

-- name: ExpireUserLinks :exec
-- Ends the live links of a kind of a user (and their codes): a password change ends its resets
-- and sign-in links.
UPDATE magic_links SET expires_at = @now
WHERE user_id = @user_id AND kind = @kind AND used_at IS NULL AND expires_at > @now;

-- name: ExpireOtherUserLinks :exec
-- ExpireUserLinks but for the link of @keep_token_hash (the one just created): a new password
-- reset replaces the earlier ones, so that a user has one live reset code at most.
UPDATE magic_links SET expires_at = @now
WHERE user_id = @user_id AND kind = @kind AND used_at IS NULL AND expires_at > @now
  AND token_hash IS DISTINCT FROM @keep_token_hash;

-- name: TakeCodeTry :one
-- Takes one try of the code of the user's newest live link of one of @kinds that has a code,
-- before the code is evaluated; no row once that code has had @max_tries (it is dead then) or
-- there is no live link with a code. The WHERE is checked again on the locked row, so
-- concurrent tries never exceed it. One code is tried at a time: a newer email's code stands
-- for the earlier ones of those kinds (their links still work).
UPDATE magic_links m SET code_tries = m.code_tries + 1
FROM applications a
WHERE m.id = (SELECT n.id FROM magic_links n
              WHERE n.user_id = @user_id AND n.kind = ANY (@kinds::text[]) AND n.used_at IS NULL AND n.expires_at > @now
                AND n.code_hash IS NOT NULL
              ORDER BY n.created_at DESC, n.id DESC LIMIT 1)
  AND a.id = m.application_id
  AND m.code_tries < @max_tries AND m.used_at IS NULL AND m.expires_at > @now
RETURNING m.id, m.code_hash, m.application_id, a.slug AS application;

-- name: UseLinkByID :one
-- Uses a link of one of @kinds found by its code (see TakeCodeTry), as UseLink does; no row
-- when it was used or expired meanwhile.
UPDATE magic_links m SET used_at = @now::timestamptz
FROM applications a
WHERE m.id = @id AND m.kind = ANY (@kinds::text[]) AND a.id = m.application_id
  AND m.used_at IS NULL AND m.expires_at > @now
RETURNING m.id, m.user_id, m.application_id, m.redirect_url, m.kind, m.liaison_id, m.invited_by_user_id, m.code_challenge, m.handover,
          a.slug AS application;

-- name: HasLiveInvitation :one
-- Whether an invitation that a user sent a liaison is still waiting to be used (neither used nor
-- expired): while it is, registering the liaison again sends no new email (its link accepts the
-- new offers too).
SELECT EXISTS (SELECT 1 FROM magic_links
               WHERE kind = 'invitation' AND liaison_id = @liaison_id AND invited_by_user_id = @inviter_id
                 AND used_at IS NULL AND expires_at > @now);
