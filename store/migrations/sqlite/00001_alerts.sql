-- Alerts, their evidence and their status history.
-- Times are INTEGER microseconds since the Unix epoch, UTC; NULL for none.
-- Entities and details are JSON text; NULL when empty.

-- +goose Up
CREATE TABLE alerts (
    id                TEXT    NOT NULL PRIMARY KEY,
    type              TEXT    NOT NULL,
    fingerprint       TEXT    NOT NULL,
    severity          TEXT    NOT NULL CHECK (severity IN ('informational', 'low', 'medium', 'high')),
    severity_rank     INTEGER NOT NULL,
    status            TEXT    NOT NULL CHECK (status IN ('active', 'investigating', 'resolved')),
    tenant_id         TEXT    NOT NULL,
    subscription_id   TEXT    NOT NULL,
    resource          TEXT    NOT NULL,
    detected_at       INTEGER NOT NULL,
    first_observed_at INTEGER,
    last_observed_at  INTEGER,
    updated_at        INTEGER,
    event_count       INTEGER NOT NULL CHECK (event_count >= 0),
    entities          TEXT,
    details           TEXT,
    resolved_reason   TEXT    NOT NULL CHECK (resolved_reason IN ('', 'legitimate', 'fraud', 'ignore')),
    resolved_by       TEXT    NOT NULL,
    resolved_on       INTEGER,
    suppressed_by     TEXT    NOT NULL,
    previous_id       TEXT    NOT NULL,
    CHECK ((status = 'resolved') = (resolved_reason <> ''))
) STRICT;

CREATE INDEX alerts_tenant_detected       ON alerts (tenant_id, detected_at);
CREATE INDEX alerts_subscription_detected ON alerts (subscription_id, detected_at);
CREATE INDEX alerts_status_detected       ON alerts (status, detected_at);
CREATE INDEX alerts_severity_detected     ON alerts (severity, detected_at);
CREATE INDEX alerts_type_detected         ON alerts (type, detected_at);
CREATE INDEX alerts_detected              ON alerts (detected_at);
CREATE INDEX alerts_last_observed         ON alerts (last_observed_at);
CREATE INDEX alerts_fingerprint_status    ON alerts (fingerprint, status);

CREATE TABLE evidence (
    alert_id TEXT    NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    ordinal  INTEGER NOT NULL CHECK (ordinal >= 0),
    time     INTEGER,
    fields   TEXT    NOT NULL,
    PRIMARY KEY (alert_id, ordinal)
) STRICT, WITHOUT ROWID;

CREATE TABLE activity_logs (
    id          INTEGER NOT NULL PRIMARY KEY,
    alert_id    TEXT    NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    status_from TEXT    NOT NULL,
    status_to   TEXT    NOT NULL,
    updated_by  TEXT    NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (alert_id, updated_at, status_from, status_to, updated_by)
) STRICT;

CREATE INDEX activity_logs_updated ON activity_logs (updated_at);

-- +goose Down
DROP TABLE activity_logs;
DROP TABLE evidence;
DROP TABLE alerts;
