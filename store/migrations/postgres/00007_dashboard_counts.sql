-- The dashboard's counts by severity (as migrations/sqlite/00007_dashboard_counts.sql)
-- read only this index (it covers tenant, status, severity and detection
-- time), not the alert rows. It is partial, on a condition every alert
-- meets but only the count's query states, so that the planner never
-- prefers it for listing alerts.

-- +goose Up
CREATE INDEX alerts_severity_counts ON alerts (tenant_id, status, severity, detected_at) WHERE severity <> '';

-- +goose Down
DROP INDEX alerts_severity_counts;
