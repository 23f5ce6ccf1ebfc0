-- +goose Up
-- PKCE for the sign-in token a link's page hands the application's redirect_url (RFC 7636, S256):
-- the challenge a link was requested with (public: the SHA-256 of the application's verifier, so
-- stored as given), carried to the hand-over the page mints, whose exchange then needs the
-- verifier. handover marks that token (a page minted it; no email carries it): only a hand-over's
-- challenge is checked, the emailed link's own token and code being unchanged. Existing links
-- have neither, and work as before.
ALTER TABLE magic_links ADD COLUMN code_challenge text, ADD COLUMN handover boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE magic_links DROP COLUMN code_challenge, DROP COLUMN handover;
