-- +goose Up
-- The client profile also carries its company's own name, so that what a client may grant (its
-- client record and its company) is read in one query.
CREATE OR REPLACE VIEW client_profiles AS
SELECT c.id, c.user_id, u.email, u.first_name, u.last_name, u.phone, c.company_id, c.company_name,
       COALESCE(co.enterprise, false) AS enterprise, c.active, c.display_name, c.use_display_name,
       c.display_email, c.use_display_email, c.bio, c.realtor_license, c.created_at,
       co.name AS company_title
FROM clients c
JOIN users u ON u.id = c.user_id
LEFT JOIN companies co ON co.id = c.company_id;

-- +goose Down
DROP VIEW client_profiles;
CREATE VIEW client_profiles AS
SELECT c.id, c.user_id, u.email, u.first_name, u.last_name, u.phone, c.company_id, c.company_name,
       COALESCE(co.enterprise, false) AS enterprise, c.active, c.display_name, c.use_display_name,
       c.display_email, c.use_display_email, c.bio, c.realtor_license, c.created_at
FROM clients c
JOIN users u ON u.id = c.user_id
LEFT JOIN companies co ON co.id = c.company_id;
