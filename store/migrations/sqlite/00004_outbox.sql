-- Notification targets and the outbox of alert changes to deliver to them
-- (issue 10). Times are INTEGER microseconds since the Unix epoch, UTC; NULL
-- for none. The PostgreSQL schema (migrations/postgres/00004_outbox.sql) has
-- the same tables and columns.

-- +goose Up
-- Where notifications go: a webhook registration, an e-mail recipient, an
-- export sink. Config is the kind's settings as JSON.
CREATE TABLE notify_targets (
    id         TEXT    NOT NULL PRIMARY KEY,
    kind       TEXT    NOT NULL,
    partner_id TEXT    NOT NULL,
    tenant_id  TEXT    NOT NULL,
    source     TEXT    NOT NULL,
    config     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

-- One row per (change, target), written in the transaction of the change.
-- A pending row is due when next_at has passed; claiming it moves next_at
-- to the end of the lease, so a dispatcher that dies gives it back.
CREATE TABLE outbox (
    id              INTEGER NOT NULL PRIMARY KEY,
    idem_key        TEXT    NOT NULL UNIQUE,
    target_id       TEXT    NOT NULL,
    event           TEXT    NOT NULL,
    alert_id        TEXT    NOT NULL,
    alert_type      TEXT    NOT NULL,
    severity        TEXT    NOT NULL,
    tenant_id       TEXT    NOT NULL,
    subscription_id TEXT    NOT NULL,
    old_value       TEXT    NOT NULL,
    new_value       TEXT    NOT NULL,
    payload         TEXT,
    created_at      INTEGER NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'done', 'failed')),
    attempts        INTEGER NOT NULL CHECK (attempts >= 0),
    next_at         INTEGER NOT NULL,
    lease_owner     TEXT    NOT NULL,
    done_at         INTEGER,
    last_error      TEXT    NOT NULL,
    result          TEXT    NOT NULL
) STRICT;

CREATE INDEX outbox_due    ON outbox (next_at, id) WHERE state = 'pending';
CREATE INDEX outbox_target ON outbox (target_id, state, id);
CREATE INDEX outbox_state  ON outbox (state, id);

-- Small durable marks of the notifiers: when a throttled mail was last
-- sent, which day's summary went out.
CREATE TABLE notify_marks (
    key TEXT    NOT NULL PRIMARY KEY,
    at  INTEGER NOT NULL
) STRICT;

-- +goose Down
DROP TABLE notify_marks;
DROP TABLE outbox;
DROP TABLE notify_targets;
