-- API tokens, suppression rules and the system activity log, as in
-- migrations/sqlite/00002_tenancy.sql. Times are timestamptz; NULL for none.

-- +goose Up
-- A token is scoped to exactly one partner or one customer tenant. Only the
-- SHA-256 of its secret is kept.
CREATE TABLE tokens (
    id           text COLLATE "C" NOT NULL PRIMARY KEY,
    hash         bytea NOT NULL UNIQUE CHECK (octet_length(hash) = 32),
    partner_id   text COLLATE "C" NOT NULL,
    tenant_id    text COLLATE "C" NOT NULL,
    can_write    boolean NOT NULL,
    name         text NOT NULL,
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz,
    revoked_at   timestamptz,
    CHECK ((partner_id = '') <> (tenant_id = ''))
);

-- Suppression rules; conditions are a JSON array of {field, in, contains}.
CREATE TABLE suppression_rules (
    id              text COLLATE "C" NOT NULL PRIMARY KEY,
    alert_type      text COLLATE "C" NOT NULL,
    reason          text NOT NULL,
    comment         text NOT NULL,
    expires_at      timestamptz,
    enabled         boolean NOT NULL,
    conditions      text NOT NULL,
    resolved_reason text COLLATE "C" NOT NULL CHECK (resolved_reason IN ('', 'legitimate', 'fraud', 'ignore')),
    partner_id      text COLLATE "C" NOT NULL,
    tenant_id       text COLLATE "C" NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    created_by      text NOT NULL,
    updated_by      text NOT NULL,
    CHECK (partner_id <> '' OR tenant_id <> '')
);

CREATE INDEX suppression_rules_tenant  ON suppression_rules (tenant_id);
CREATE INDEX suppression_rules_partner ON suppression_rules (partner_id);

-- What the system did and who did it: detections, status changes, rule
-- changes, token use. Details are a JSON object of strings; NULL when empty.
CREATE TABLE system_activity (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at             timestamptz NOT NULL,
    operation_type text COLLATE "C" NOT NULL,
    partner_id     text COLLATE "C" NOT NULL,
    tenant_id      text COLLATE "C" NOT NULL,
    actor          text COLLATE "C" NOT NULL,
    resource_type  text COLLATE "C" NOT NULL,
    resource_id    text COLLATE "C" NOT NULL,
    old_value      text NOT NULL,
    new_value      text NOT NULL,
    details        text
);

CREATE INDEX system_activity_at           ON system_activity (at);
CREATE INDEX system_activity_tenant_at    ON system_activity (tenant_id, at);
CREATE INDEX system_activity_partner_at   ON system_activity (partner_id, at);
CREATE INDEX system_activity_operation_at ON system_activity (operation_type, at);

-- +goose Down
DROP TABLE system_activity;
DROP TABLE suppression_rules;
DROP TABLE tokens;
