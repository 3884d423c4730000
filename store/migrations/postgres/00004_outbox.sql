-- Notification targets and the outbox of alert changes to deliver to them,
-- as in migrations/sqlite/00004_outbox.sql. Times are timestamptz; NULL for
-- none.

-- +goose Up
-- Where notifications go: a webhook registration, an e-mail recipient, an
-- export sink. Config is the kind's settings as JSON text.
CREATE TABLE notify_targets (
    id         text COLLATE "C" NOT NULL PRIMARY KEY,
    kind       text COLLATE "C" NOT NULL,
    partner_id text COLLATE "C" NOT NULL,
    tenant_id  text COLLATE "C" NOT NULL,
    source     text COLLATE "C" NOT NULL,
    config     text NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

-- One row per (change, target), written in the transaction of the change.
-- A pending row is due when next_at has passed; claiming it moves next_at
-- to the end of the lease, so a dispatcher that dies gives it back.
CREATE TABLE outbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    idem_key        text COLLATE "C" NOT NULL UNIQUE,
    target_id       text COLLATE "C" NOT NULL,
    event           text COLLATE "C" NOT NULL,
    alert_id        text COLLATE "C" NOT NULL,
    alert_type      text COLLATE "C" NOT NULL,
    severity        text COLLATE "C" NOT NULL,
    tenant_id       text COLLATE "C" NOT NULL,
    subscription_id text COLLATE "C" NOT NULL,
    old_value       text COLLATE "C" NOT NULL,
    new_value       text COLLATE "C" NOT NULL,
    payload         text,
    created_at      timestamptz NOT NULL,
    state           text COLLATE "C" NOT NULL CHECK (state IN ('pending', 'done', 'failed')),
    attempts        integer NOT NULL CHECK (attempts >= 0),
    next_at         timestamptz NOT NULL,
    lease_owner     text COLLATE "C" NOT NULL,
    done_at         timestamptz,
    last_error      text NOT NULL,
    result          text NOT NULL
);

CREATE INDEX outbox_due    ON outbox (next_at, id) WHERE state = 'pending';
CREATE INDEX outbox_target ON outbox (target_id, state, id);
CREATE INDEX outbox_state  ON outbox (state, id);

-- Small durable marks of the notifiers: when a throttled mail was last
-- sent, which day's summary went out.
CREATE TABLE notify_marks (
    key text COLLATE "C" NOT NULL PRIMARY KEY,
    at  timestamptz NOT NULL
);

-- +goose Down
DROP TABLE notify_marks;
DROP TABLE outbox;
DROP TABLE notify_targets;
