-- +goose Up
-- A client with the user and company fields that the client views show (names, email and phone
-- live on the user; enterprise on the company). Every client query reads this one shape, so the
-- views are built from one row type.
CREATE VIEW client_profiles AS
SELECT c.id, c.user_id, u.email, u.first_name, u.last_name, u.phone, c.company_id, c.company_name,
       COALESCE(co.enterprise, false) AS enterprise, c.active, c.display_name, c.use_display_name,
       c.display_email, c.use_display_email, c.bio, c.realtor_license, c.created_at
FROM clients c
JOIN users u ON u.id = c.user_id
LEFT JOIN companies co ON co.id = c.company_id;

-- +goose Down
DROP VIEW client_profiles;
