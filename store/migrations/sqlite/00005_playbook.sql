-- The dashboard's playbook checklist: which remediation steps of an alert
-- an analyst has ticked, by whom and when. Steps are numbered from 0 in the
-- catalogue's order, which is the same in every language.

-- +goose Up
CREATE TABLE playbook_ticks (
    alert_id   TEXT    NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    step       INTEGER NOT NULL CHECK (step >= 0),
    done       INTEGER NOT NULL CHECK (done IN (0, 1)),
    updated_by TEXT    NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (alert_id, step)
) STRICT, WITHOUT ROWID;

-- +goose Down
DROP TABLE playbook_ticks;
