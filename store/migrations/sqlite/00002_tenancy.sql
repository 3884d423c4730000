-- API tokens, suppression rules and the system activity log.
-- Times are INTEGER microseconds since the Unix epoch, UTC; NULL for none.

-- +goose Up
-- A token is scoped to exactly one partner or one customer tenant. Only the
-- SHA-256 of its secret is kept.
CREATE TABLE tokens (
    id           TEXT    NOT NULL PRIMARY KEY,
    hash         BLOB    NOT NULL UNIQUE CHECK (length(hash) = 32),
    partner_id   TEXT    NOT NULL,
    tenant_id    TEXT    NOT NULL,
    can_write    INTEGER NOT NULL CHECK (can_write IN (0, 1)),
    name         TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER,
    CHECK ((partner_id = '') <> (tenant_id = ''))
) STRICT;

-- Suppression rules; conditions are a JSON array of {field, in, contains}.
CREATE TABLE suppression_rules (
    id              TEXT    NOT NULL PRIMARY KEY,
    alert_type      TEXT    NOT NULL,
    reason          TEXT    NOT NULL,
    comment         TEXT    NOT NULL,
    expires_at      INTEGER,
    enabled         INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    conditions      TEXT    NOT NULL,
    resolved_reason TEXT    NOT NULL CHECK (resolved_reason IN ('', 'legitimate', 'fraud', 'ignore')),
    partner_id      TEXT    NOT NULL,
    tenant_id       TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    created_by      TEXT    NOT NULL,
    updated_by      TEXT    NOT NULL,
    CHECK (partner_id <> '' OR tenant_id <> '')
) STRICT;

CREATE INDEX suppression_rules_tenant  ON suppression_rules (tenant_id);
CREATE INDEX suppression_rules_partner ON suppression_rules (partner_id);

-- What the system did and who did it: detections, status changes, rule
-- changes, token use. Details are a JSON object of strings; NULL when empty.
CREATE TABLE system_activity (
    id             INTEGER NOT NULL PRIMARY KEY,
    at             INTEGER NOT NULL,
    operation_type TEXT    NOT NULL,
    partner_id     TEXT    NOT NULL,
    tenant_id      TEXT    NOT NULL,
    actor          TEXT    NOT NULL,
    resource_type  TEXT    NOT NULL,
    resource_id    TEXT    NOT NULL,
    old_value      TEXT    NOT NULL,
    new_value      TEXT    NOT NULL,
    details        TEXT
) STRICT;

CREATE INDEX system_activity_at          ON system_activity (at);
CREATE INDEX system_activity_tenant_at   ON system_activity (tenant_id, at);
CREATE INDEX system_activity_partner_at  ON system_activity (partner_id, at);
CREATE INDEX system_activity_operation_at ON system_activity (operation_type, at);

-- +goose Down
DROP TABLE system_activity;
DROP TABLE suppression_rules;
DROP TABLE tokens;
