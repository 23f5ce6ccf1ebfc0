-- name: CreateCompany :one
-- Creates the company of an enterprise client.
INSERT INTO companies (name, enterprise) VALUES (@name, @enterprise)
RETURNING *;

-- name: CompanyExists :one
SELECT EXISTS (SELECT 1 FROM companies WHERE id = @id);

-- name: ListCompanies :many
-- Companies in id order, at most @max_rows: what an employee or application may grant.
SELECT * FROM companies ORDER BY id LIMIT @max_rows;

-- name: ListCompaniesByID :many
-- The companies of @ids that exist, in id order.
SELECT * FROM companies WHERE id = ANY (@ids::bigint[]) ORDER BY id;
