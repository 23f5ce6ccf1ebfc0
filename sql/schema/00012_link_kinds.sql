-- +goose Up
-- Emailed links have a kind: a sign-in link (sessions/magic_link_request), the verification
-- link of a welcome email, or an invitation (liaisons/register, or a client created for
-- someone). Every kind signs its user in and proves the email; an invitation to be a liaison
-- also accepts that liaison role (liaison_id). The pages of issue 12 (/magic, /verify,
-- /invite) are built on this one mechanism.
ALTER TABLE magic_links
    ADD COLUMN kind text NOT NULL DEFAULT 'sign_in' CHECK (kind IN ('sign_in', 'verification', 'invitation')),
    ADD COLUMN liaison_id bigint REFERENCES liaisons (id) ON DELETE CASCADE;
CREATE INDEX magic_links_liaison_id_idx ON magic_links (liaison_id) WHERE liaison_id IS NOT NULL;

-- A link sent with a queued email (welcome, invitation) gets its token only when the outbox
-- worker sends the email: the token then exists only in the email, never in email_outbox. Until
-- then token_hash is NULL, which matches no token. A link deleted before its email was sent
-- takes the email with it.
ALTER TABLE magic_links ALTER COLUMN token_hash DROP NOT NULL;
ALTER TABLE email_outbox ADD COLUMN magic_link_id bigint REFERENCES magic_links (id) ON DELETE CASCADE;
CREATE INDEX email_outbox_magic_link_id_idx ON email_outbox (magic_link_id) WHERE magic_link_id IS NOT NULL;

-- +goose Down
DROP INDEX email_outbox_magic_link_id_idx;
ALTER TABLE email_outbox DROP COLUMN magic_link_id;
DELETE FROM magic_links WHERE token_hash IS NULL;
ALTER TABLE magic_links ALTER COLUMN token_hash SET NOT NULL;
DROP INDEX magic_links_liaison_id_idx;
ALTER TABLE magic_links DROP COLUMN liaison_id, DROP COLUMN kind;
