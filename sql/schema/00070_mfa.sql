-- +goose Up
-- Second factors (issue 16): TOTP, passkeys (WebAuthn) and recovery codes, and the assurance
-- level of every session (internal/mfa, internal/impl/mfa.go).

-- What a session proved: its level (aal1: one factor; aal2: two, or a passkey that verified its
-- user) and the methods used, in order (pwd, link, google, webauthn, otp, recovery_code).
-- Sessions from before this migration were made with one factor, which was not recorded.
ALTER TABLE sessions
    ADD COLUMN aal text NOT NULL DEFAULT 'aal1' CONSTRAINT sessions_aal_check CHECK (aal IN ('aal1', 'aal2')),
    ADD COLUMN methods text[] NOT NULL DEFAULT '{}';

-- Whether the user has a second factor (a confirmed TOTP, or a passkey): kept by the statements
-- that add and remove factors (RefreshUserMFA), and read with every session token (the session
-- query joins users), so that an aal1 session of such a user is limited to completing it.
ALTER TABLE users ADD COLUMN mfa_enabled boolean NOT NULL DEFAULT false;

-- An application may require aal2 of every session (`planoauth applications require-mfa`).
ALTER TABLE applications ADD COLUMN require_mfa boolean NOT NULL DEFAULT false;

-- A user's TOTP secret (RFC 6238), sealed with AES-GCM under PLANOAUTH_MFA_KEY (bound to the user
-- id). Until confirmed with a first code it is a pending enrolment that expires; last_step is
-- the last time step accepted, so that a code works once.
CREATE TABLE totp_secrets (
    user_id       bigint      PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    sealed_secret bytea       NOT NULL,
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz,          -- a pending enrolment's end; NULL once confirmed
    confirmed_at  timestamptz,
    last_step     bigint,
    last_used_at  timestamptz,
    CONSTRAINT totp_secrets_pending_check CHECK ((confirmed_at IS NULL) = (expires_at IS NOT NULL))
);
CREATE INDEX totp_secrets_expires_at_idx ON totp_secrets (expires_at) WHERE expires_at IS NOT NULL;

-- Recovery codes: ten at a time, each usable once, stored only as a SHA-256 salted with the user
-- id (each code carries 80 random bits, so no offline search can find one).
CREATE TABLE recovery_codes (
    id         bigserial   PRIMARY KEY,
    user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  bytea       NOT NULL,
    created_at timestamptz NOT NULL,
    used_at    timestamptz,
    CONSTRAINT recovery_codes_user_code_key UNIQUE (user_id, code_hash)
);

-- The WebAuthn user handle of each user who registered a passkey: random, stable, the same for
-- all of its passkeys, and what a discoverable passkey answers with.
CREATE TABLE webauthn_handles (
    user_id bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    handle  bytea  NOT NULL UNIQUE
);

-- Passkeys: the credential as go-webauthn records it (public key, flags, sign count), under the
-- relying party id it was registered for.
CREATE TABLE passkeys (
    id            bigserial   PRIMARY KEY,
    user_id       bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    rp_id         text        NOT NULL,
    credential_id bytea       NOT NULL,
    name          text        NOT NULL,
    credential    jsonb       NOT NULL,
    created_at    timestamptz NOT NULL,
    last_used_at  timestamptz,
    CONSTRAINT passkeys_rp_credential_key UNIQUE (rp_id, credential_id)
);
CREATE INDEX passkeys_user_id_idx ON passkeys (user_id);

-- The server's half of a WebAuthn ceremony between its begin and its finish: found by the
-- challenge the authenticator signed (its SHA-256), used once (deleted by the finish), and dead
-- after expires_at. A registration or a second-factor check belongs to the session that began it;
-- a passkey sign-in to its application and the address that began it.
CREATE TABLE webauthn_challenges (
    id             bigserial   PRIMARY KEY,
    challenge_hash bytea       NOT NULL UNIQUE,
    ceremony       text        NOT NULL CHECK (ceremony IN ('register', 'sign_in', 'verify')),
    session_id     uuid        REFERENCES sessions (id) ON DELETE CASCADE,
    application_id bigint      REFERENCES applications (id) ON DELETE CASCADE,
    client_address text        NOT NULL DEFAULT '',
    data           jsonb       NOT NULL,
    created_at     timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL
);
CREATE INDEX webauthn_challenges_expires_at_idx ON webauthn_challenges (expires_at);
CREATE INDEX webauthn_challenges_session_id_idx ON webauthn_challenges (session_id) WHERE session_id IS NOT NULL;

-- A session's level and methods are what it shows: a change reaches every instance's cache (as a
-- revocation, a role or scopes do); so does a user's mfa_enabled, which limits its sessions.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION notify_sessions_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    payload text;
BEGIN
    FOR payload IN
        SELECT CASE WHEN count(*) = 1 THEN 'session:' || min(changed.id::text) ELSE 'user:' || changed.user_id END
        FROM (
            SELECT n.id, n.user_id FROM new_rows n JOIN old_rows o ON o.id = n.id
            WHERE TG_OP = 'UPDATE' AND (n.revoked_at IS DISTINCT FROM o.revoked_at
                  OR n.role IS DISTINCT FROM o.role OR n.scopes IS DISTINCT FROM o.scopes
                  OR n.aal IS DISTINCT FROM o.aal OR n.methods IS DISTINCT FROM o.methods)
        ) changed
        GROUP BY changed.user_id
    LOOP
        PERFORM pg_notify('planoauth_sessions', payload);
    END LOOP;
    RETURN NULL;
END;
$$;

CREATE FUNCTION notify_user_mfa_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('planoauth_sessions', 'user:' || NEW.id);
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER users_mfa_notify AFTER UPDATE OF mfa_enabled ON users
    FOR EACH ROW WHEN (OLD.mfa_enabled IS DISTINCT FROM NEW.mfa_enabled)
    EXECUTE FUNCTION notify_user_mfa_changed();

-- Every role may manage and complete its user's second factors (the limited session of
-- client-required too, so that a user without a role can complete one before registering).
UPDATE role_scopes SET scopes = scopes || ARRAY(
    SELECT s FROM unnest('{mfa.index,mfa.totp_enroll,mfa.totp_confirm,mfa.totp_disable,mfa.totp_verify,mfa.passkey_register_begin,mfa.passkey_register_finish,mfa.passkey_verify_begin,mfa.passkey_verify_finish,mfa.passkey_delete,mfa.recovery_codes_create,mfa.recovery_code_verify}'::text[]) s
    WHERE NOT s = ANY (scopes));

-- +goose Down
UPDATE role_scopes SET scopes = array(SELECT s FROM unnest(scopes) s WHERE s NOT LIKE 'mfa.%');
DROP TRIGGER users_mfa_notify ON users;
DROP FUNCTION notify_user_mfa_changed();
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION notify_sessions_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    payload text;
BEGIN
    FOR payload IN
        SELECT CASE WHEN count(*) = 1 THEN 'session:' || min(changed.id::text) ELSE 'user:' || changed.user_id END
        FROM (
            SELECT n.id, n.user_id FROM new_rows n JOIN old_rows o ON o.id = n.id
            WHERE TG_OP = 'UPDATE' AND (n.revoked_at IS DISTINCT FROM o.revoked_at
                  OR n.role IS DISTINCT FROM o.role OR n.scopes IS DISTINCT FROM o.scopes)
        ) changed
        GROUP BY changed.user_id
    LOOP
        PERFORM pg_notify('planoauth_sessions', payload);
    END LOOP;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
DROP TABLE webauthn_challenges, passkeys, webauthn_handles, recovery_codes, totp_secrets;
ALTER TABLE applications DROP COLUMN require_mfa;
ALTER TABLE users DROP COLUMN mfa_enabled;
ALTER TABLE sessions DROP COLUMN methods, DROP COLUMN aal;
