-- +goose Up
-- Company membership is granted, never claimed. clients.company_id is the company a client is a
-- member of; a company named at self-registration is a request in company_member_requests until
-- an employee, an application token or the company's owner approves it.

-- The owner of an enterprise company is the client whose registration created it.
ALTER TABLE companies ADD COLUMN owner_client_id bigint REFERENCES clients (id) ON DELETE SET NULL;
CREATE INDEX companies_owner_client_id_idx ON companies (owner_client_id) WHERE owner_client_id IS NOT NULL;

-- Existing enterprise companies: the client created in the same transaction as the company
-- (both rows took now(), the transaction's start time) is the one whose registration made it.
UPDATE companies co SET owner_client_id = o.id
FROM (SELECT DISTINCT ON (c.company_id) c.company_id, c.id
      FROM clients c JOIN companies e ON e.id = c.company_id
      WHERE e.enterprise AND c.created_at = e.created_at
      ORDER BY c.company_id, c.id) o
WHERE co.id = o.company_id;

-- One pending request per client: the company it asked to join.
CREATE TABLE company_member_requests (
    client_id   bigint      PRIMARY KEY REFERENCES clients (id) ON DELETE CASCADE,
    company_id  bigint      NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX company_member_requests_company_id_idx ON company_member_requests (company_id);

-- Existing memberships other than an owner's in its own company were set from a company_id
-- that a caller named, which nothing checked: they are carried forward as requests, for an
-- employee, an application or the owner to approve (companies/approve_member).
INSERT INTO company_member_requests (client_id, company_id, created_at)
SELECT c.id, c.company_id, c.created_at
FROM clients c JOIN companies co ON co.id = c.company_id
WHERE co.owner_client_id IS DISTINCT FROM c.id;
UPDATE clients c SET company_id = NULL, updated_at = now()
FROM companies co
WHERE co.id = c.company_id AND co.owner_client_id IS DISTINCT FROM c.id;

-- +goose Down
UPDATE clients c SET company_id = r.company_id FROM company_member_requests r WHERE r.client_id = c.id;
DROP TABLE company_member_requests;
DROP INDEX companies_owner_client_id_idx;
ALTER TABLE companies DROP COLUMN owner_client_id;
