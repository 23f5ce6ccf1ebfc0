-- +goose Up
-- The base domain model. Emails are unique case-insensitively; tokens are stored only as
-- SHA-256 hashes; every row keeps created_at/updated_at so coexisting systems can follow it.

CREATE TABLE companies (
    id          bigserial PRIMARY KEY,
    name        text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    enterprise  boolean     NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id             bigserial PRIMARY KEY,
    email          text        NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    -- argon2id in PHC string format; NULL or blank for users who sign in with Google or a link.
    password_hash  text,
    first_name     text        NOT NULL DEFAULT '',
    last_name      text        NOT NULL DEFAULT '',
    phone          text        NOT NULL DEFAULT '',
    remember_me    boolean     NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE clients (
    id                 bigserial PRIMARY KEY,
    user_id            bigint      NOT NULL UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    company_id         bigint      REFERENCES companies (id),
    company_name       text        NOT NULL DEFAULT '',
    active             boolean     NOT NULL DEFAULT true,
    display_name       text        NOT NULL DEFAULT '',
    use_display_name   boolean     NOT NULL DEFAULT false,
    display_email      text        NOT NULL DEFAULT '',
    use_display_email  boolean     NOT NULL DEFAULT false,
    bio                text        NOT NULL DEFAULT '',
    realtor_license    text        NOT NULL DEFAULT '',
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX clients_company_id_idx ON clients (company_id);

CREATE TABLE employees (
    id          bigserial PRIMARY KEY,
    user_id     bigint      NOT NULL UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE liaisons (
    id          bigserial PRIMARY KEY,
    user_id     bigint      NOT NULL UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- What each liaison acts for.
CREATE TABLE liaison_clients (
    liaison_id  bigint NOT NULL REFERENCES liaisons (id) ON DELETE CASCADE,
    client_id   bigint NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    PRIMARY KEY (liaison_id, client_id)
);
CREATE TABLE liaison_companies (
    liaison_id  bigint NOT NULL REFERENCES liaisons (id) ON DELETE CASCADE,
    company_id  bigint NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    PRIMARY KEY (liaison_id, company_id)
);

CREATE TABLE applications (
    id                          bigserial PRIMARY KEY,
    slug                        text        NOT NULL UNIQUE,
    name                        text        NOT NULL,
    -- SHA-256 of the application token; NULL until a token is issued (`planoauth applications`).
    token_hash                  bytea       UNIQUE,
    -- Roles whose users may log in to this application.
    roles                       text[]      NOT NULL,
    allows_client_registration  boolean     NOT NULL DEFAULT false,
    -- Scopes of the application's own token.
    scopes                      text[]      NOT NULL DEFAULT '{}',
    created_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                  timestamptz NOT NULL DEFAULT now()
);

-- Scopes a session gets for its role in its application; role 'none' is the session limited to
-- users/client_register that comes with client-required.
CREATE TABLE role_scopes (
    application_id  bigint NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    role            text   NOT NULL CHECK (role IN ('client', 'employee', 'liaison', 'none')),
    scopes          text[] NOT NULL,
    PRIMARY KEY (application_id, role)
);

CREATE TABLE sessions (
    id              uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    token_hash      bytea       NOT NULL UNIQUE,
    user_id         bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    application_id  bigint      NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    role            text        NOT NULL CHECK (role IN ('client', 'employee', 'liaison', 'none')),
    scopes          text[]      NOT NULL,
    redirect_url    text        NOT NULL DEFAULT '',
    client_address  text        NOT NULL DEFAULT '',
    user_agent      text        NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_used_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id) WHERE revoked_at IS NULL;

-- The route registry: one service per domain (tag) and one route per operation, synced from the
-- embedded contract at start-up. Operators undeploy them; every instance hears of it at once.
CREATE TABLE services (
    name        text        PRIMARY KEY,
    deployed    boolean     NOT NULL DEFAULT true,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE routes (
    operation_id  text        PRIMARY KEY,
    service       text        NOT NULL REFERENCES services (name) ON UPDATE CASCADE ON DELETE CASCADE,
    method        text        NOT NULL,
    path          text        NOT NULL,
    deployed      boolean     NOT NULL DEFAULT true,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (method, path)
);

-- +goose StatementBegin
CREATE FUNCTION registry_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('planoauth_registry', TG_TABLE_NAME);
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER services_changed AFTER INSERT OR UPDATE OR DELETE ON services
    FOR EACH STATEMENT EXECUTE FUNCTION registry_changed();
CREATE TRIGGER routes_changed AFTER INSERT OR UPDATE OR DELETE ON routes
    FOR EACH STATEMENT EXECUTE FUNCTION registry_changed();

-- The three applications of the suite. Their tokens are issued at first start (and printed once).
INSERT INTO applications (slug, name, roles, allows_client_registration, scopes) VALUES
    ('planoauth',  'PlanoAuth',  '{client,employee,liaison}', true,
        '{clients.create,scopes.liaison_register,coexistence.touch,coexistence.index}'),
    ('planoorder', 'PlanoOrder', '{client,employee,liaison}', true,
        '{clients.create,scopes.liaison_register,coexistence.touch,coexistence.index}'),
    ('planox2',    'PlanoX2',    '{employee,liaison}',        false,
        '{clients.create,scopes.liaison_register,coexistence.touch,coexistence.index}');

INSERT INTO role_scopes (application_id, role, scopes)
SELECT a.id, r.role, r.scopes
FROM applications a
CROSS JOIN (VALUES
    ('none',     '{users.client_register,sessions.read,sessions.delete}'::text[]),
    ('client',   '{sessions.read,sessions.delete,sessions.index,scopes.liaison_register,liaisons.register}'::text[]),
    ('liaison',  '{sessions.read,sessions.delete,sessions.index,scopes.liaison_register,liaisons.register}'::text[]),
    ('employee', '{sessions.read,sessions.delete,sessions.index,scopes.liaison_register,liaisons.register,clients.create}'::text[])
) AS r (role, scopes);

-- +goose Down
DROP TABLE routes, services, sessions, role_scopes, applications, liaison_companies,
    liaison_clients, liaisons, employees, clients, users, companies;
DROP FUNCTION registry_changed();
