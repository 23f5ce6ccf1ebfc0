-- +goose Up
-- A liaison role takes effect when its invitee accepts it (the invitation link), and every grant
-- records who made it, so that what an unverified account set up can be taken back when the
-- email's owner first proves it.
ALTER TABLE liaisons
    ADD COLUMN accepted_at timestamptz,
    -- Whose liaisons/register created the record; its owner's first proof removes the
    -- liaisons an unverified account registered.
    ADD COLUMN invited_by_user_id bigint REFERENCES users (id) ON DELETE SET NULL;
CREATE INDEX liaisons_invited_by_user_id_idx ON liaisons (invited_by_user_id) WHERE invited_by_user_id IS NOT NULL;

-- Existing liaisons: a liaison whose email was proven keeps its role (it proved the mailbox the
-- role was given to, and has been using it). One whose email was never proven may be an account
-- whose password its registrant chose: its role waits for an invitation to be accepted, which
-- any client it acts for, or an employee, sends with liaisons/register.
UPDATE liaisons l SET accepted_at = l.created_at
FROM users u WHERE u.id = l.user_id AND u.email_verified_at IS NOT NULL;

-- Who granted each client and company (NULL: an application, or a grant made before this
-- migration, whose maker was not recorded).
ALTER TABLE liaison_clients
    ADD COLUMN granted_by_user_id bigint REFERENCES users (id) ON DELETE SET NULL,
    ADD COLUMN granted_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE liaison_companies
    ADD COLUMN granted_by_user_id bigint REFERENCES users (id) ON DELETE SET NULL,
    ADD COLUMN granted_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX liaison_clients_granted_by_idx ON liaison_clients (granted_by_user_id) WHERE granted_by_user_id IS NOT NULL;
CREATE INDEX liaison_companies_granted_by_idx ON liaison_companies (granted_by_user_id) WHERE granted_by_user_id IS NOT NULL;

-- +goose Down
DROP INDEX liaison_companies_granted_by_idx, liaison_clients_granted_by_idx, liaisons_invited_by_user_id_idx;
ALTER TABLE liaison_companies DROP COLUMN granted_at, DROP COLUMN granted_by_user_id;
ALTER TABLE liaison_clients DROP COLUMN granted_at, DROP COLUMN granted_by_user_id;
ALTER TABLE liaisons DROP COLUMN invited_by_user_id, DROP COLUMN accepted_at;
