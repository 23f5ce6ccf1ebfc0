-- +goose Up
-- Where each grant came from, and the invitee's consent to it.
--
-- Provenance: a liaison may pass on what it acts for (that is what liaisons are for), and what
-- it passes on rests on its own grant. via_liaison_id names the liaison whose grant of the same
-- client or company a grant was made through (NULL: made by someone who holds it on its own
-- account: the client itself, a member of the company, an employee, or before this migration).
-- The foreign key onto that grant's row cascades: when a grant goes (its grantor left the
-- company, its email's first proof took it back, its liaison was removed), every grant made
-- through it goes too, and through those, and so on. A grant made through a grant also waits for
-- that grant (the key's share lock), so a removal and a grant in flight never miss each other.
--
-- Consent: a grant takes effect when its invitee accepts it (accepted_at), by the invitation link
-- of the user who granted it (magic_links.invited_by_user_id). Until then it is an offer, which
-- grants nothing and which liaisons/register's answer does not distinguish from anything else.
-- Grants made before this migration were accepted with their liaison role: they keep applying.
ALTER TABLE liaison_clients
    ADD COLUMN via_liaison_id bigint,
    ADD COLUMN accepted_at timestamptz,
    ADD CONSTRAINT liaison_clients_source_fkey FOREIGN KEY (via_liaison_id, client_id)
        REFERENCES liaison_clients (liaison_id, client_id) ON DELETE CASCADE;
ALTER TABLE liaison_companies
    ADD COLUMN via_liaison_id bigint,
    ADD COLUMN accepted_at timestamptz,
    ADD CONSTRAINT liaison_companies_source_fkey FOREIGN KEY (via_liaison_id, company_id)
        REFERENCES liaison_companies (liaison_id, company_id) ON DELETE CASCADE;
UPDATE liaison_clients SET accepted_at = granted_at;
UPDATE liaison_companies SET accepted_at = granted_at;
-- The cascades look up the grants made through a grant.
CREATE INDEX liaison_clients_source_idx ON liaison_clients (via_liaison_id, client_id) WHERE via_liaison_id IS NOT NULL;
CREATE INDEX liaison_companies_source_idx ON liaison_companies (via_liaison_id, company_id) WHERE via_liaison_id IS NOT NULL;

-- Who sent an invitation to be a liaison: its link accepts that user's offers.
ALTER TABLE magic_links ADD COLUMN invited_by_user_id bigint REFERENCES users (id) ON DELETE CASCADE;
CREATE INDEX magic_links_invited_by_user_id_idx ON magic_links (invited_by_user_id) WHERE invited_by_user_id IS NOT NULL;

-- +goose Down
DROP INDEX magic_links_invited_by_user_id_idx;
ALTER TABLE magic_links DROP COLUMN invited_by_user_id;
DELETE FROM liaison_companies WHERE accepted_at IS NULL;
DELETE FROM liaison_clients WHERE accepted_at IS NULL;
DROP INDEX liaison_companies_source_idx, liaison_clients_source_idx;
ALTER TABLE liaison_companies DROP CONSTRAINT liaison_companies_source_fkey, DROP COLUMN accepted_at, DROP COLUMN via_liaison_id;
ALTER TABLE liaison_clients DROP CONSTRAINT liaison_clients_source_fkey, DROP COLUMN accepted_at, DROP COLUMN via_liaison_id;
