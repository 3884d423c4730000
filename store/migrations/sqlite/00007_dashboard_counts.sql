-- The dashboard's counts by severity read only this index (it covers
-- tenant, status, severity and detection time), not the alert rows, so the
-- alert list stays fast over millions of alerts. It is partial, on a
-- condition every alert meets but only the count's query states, so that
-- the planner never prefers it for listing alerts, which the (tenant_id,
-- detected_at) index serves in order.

-- +goose Up
CREATE INDEX alerts_severity_counts ON alerts (tenant_id, status, severity, detected_at) WHERE severity <> '';

-- +goose Down
DROP INDEX alerts_severity_counts;
