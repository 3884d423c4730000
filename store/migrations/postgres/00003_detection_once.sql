-- An alert's detection (and its suppression) is recorded once, however
-- often a restart replays the input that raised it (issue 9: the checkpoint
-- replays what came after it, and writes must be idempotent).
-- +goose Up
DELETE FROM system_activity
WHERE operation_type IN ('Azure Fraud Event Detected', 'Security Alert Suppressed')
  AND id NOT IN (
    SELECT MIN(id) FROM system_activity
    WHERE operation_type IN ('Azure Fraud Event Detected', 'Security Alert Suppressed')
    GROUP BY operation_type, resource_id);
CREATE UNIQUE INDEX system_activity_once ON system_activity (operation_type, resource_id)
    WHERE operation_type IN ('Azure Fraud Event Detected', 'Security Alert Suppressed');

-- +goose Down
DROP INDEX system_activity_once;
