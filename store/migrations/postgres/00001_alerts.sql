-- Alerts, their evidence and their status history: the tables and columns
-- of the SQLite schema (migrations/sqlite/00001_alerts.sql), in PostgreSQL's
-- types. Times are timestamptz to the microsecond; NULL for none. Entities,
-- details and evidence fields are JSON kept as text, byte for byte as
-- written. Text compares and sorts by code point (COLLATE "C"), as in
-- SQLite, whatever the database's locale, so pages and sort orders agree.

-- +goose Up
CREATE TABLE alerts (
    id                text COLLATE "C" NOT NULL PRIMARY KEY,
    type              text COLLATE "C" NOT NULL,
    fingerprint       text COLLATE "C" NOT NULL,
    severity          text COLLATE "C" NOT NULL CHECK (severity IN ('informational', 'low', 'medium', 'high')),
    severity_rank     integer NOT NULL,
    status            text COLLATE "C" NOT NULL CHECK (status IN ('active', 'investigating', 'resolved')),
    tenant_id         text COLLATE "C" NOT NULL,
    subscription_id   text COLLATE "C" NOT NULL,
    resource          text COLLATE "C" NOT NULL,
    detected_at       timestamptz NOT NULL,
    first_observed_at timestamptz,
    last_observed_at  timestamptz,
    updated_at        timestamptz,
    event_count       bigint NOT NULL CHECK (event_count >= 0),
    entities          text,
    details           text,
    resolved_reason   text COLLATE "C" NOT NULL CHECK (resolved_reason IN ('', 'legitimate', 'fraud', 'ignore')),
    resolved_by       text COLLATE "C" NOT NULL,
    resolved_on       timestamptz,
    suppressed_by     text COLLATE "C" NOT NULL,
    previous_id       text COLLATE "C" NOT NULL,
    CHECK ((status = 'resolved') = (resolved_reason <> ''))
);

-- The ID ends the indexes that pages are read from: with it, an index scan
-- (forwards or backwards) gives the rows in the store's full sort order
-- (detected_at, then id), so a page stops after its rows, and a partner's
-- page merges its tenants' scans (Merge Append) instead of sorting them all.
CREATE INDEX alerts_tenant_detected       ON alerts (tenant_id, detected_at, id);
CREATE INDEX alerts_subscription_detected ON alerts (subscription_id, detected_at, id);
CREATE INDEX alerts_status_detected       ON alerts (status, detected_at);
CREATE INDEX alerts_severity_detected     ON alerts (severity, detected_at);
CREATE INDEX alerts_type_detected         ON alerts (type, detected_at);
CREATE INDEX alerts_detected              ON alerts (detected_at, id);
CREATE INDEX alerts_last_observed         ON alerts (last_observed_at);
CREATE INDEX alerts_fingerprint_status    ON alerts (fingerprint, status);

CREATE TABLE evidence (
    alert_id text COLLATE "C" NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    ordinal  integer NOT NULL CHECK (ordinal >= 0),
    time     timestamptz,
    fields   text NOT NULL,
    PRIMARY KEY (alert_id, ordinal)
);

CREATE TABLE activity_logs (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id    text COLLATE "C" NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    status_from text COLLATE "C" NOT NULL,
    status_to   text COLLATE "C" NOT NULL,
    updated_by  text COLLATE "C" NOT NULL,
    updated_at  timestamptz NOT NULL,
    UNIQUE (alert_id, updated_at, status_from, status_to, updated_by)
);

CREATE INDEX activity_logs_updated ON activity_logs (updated_at);

-- +goose Down
DROP TABLE activity_logs;
DROP TABLE evidence;
DROP TABLE alerts;
