-- The dashboard's playbook checklist (as migrations/sqlite/00005_playbook.sql):
-- which remediation steps of an alert an analyst has ticked, by whom and
-- when. Steps are numbered from 0 in the catalogue's order, which is the
-- same in every language.

-- +goose Up
CREATE TABLE playbook_ticks (
    alert_id   text COLLATE "C" NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    step       integer NOT NULL CHECK (step >= 0),
    done       boolean NOT NULL,
    updated_by text COLLATE "C" NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (alert_id, step)
);

-- +goose Down
DROP TABLE playbook_ticks;
