-- The dashboard's entity search: every identifying value of an alert's
-- entities, in lower case (ASCII), kept by triggers from the entities
-- column, so that "alerts whose entities have a value starting with X" is a
-- range scan of an index instead of a scan of every alert. Values: address,
-- UPN (and its domain), object ID, app ID, name, resource ID, AS
-- organisation, each threat-intelligence entry, and "country:XX" and
-- "asn:N".

-- +goose Up
CREATE TABLE alert_entity_values (
    value    TEXT NOT NULL,
    alert_id TEXT NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    PRIMARY KEY (value, alert_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX alert_entity_values_alert ON alert_entity_values (alert_id);

-- +goose StatementBegin
CREATE TRIGGER alerts_entity_values_insert AFTER INSERT ON alerts
WHEN NEW.entities IS NOT NULL
BEGIN
    INSERT OR IGNORE INTO alert_entity_values (value, alert_id)
    SELECT lower(v), NEW.id FROM (
        SELECT CASE t.key WHEN 'country' THEN 'country:' || t.value WHEN 'asn' THEN 'asn:' || t.value ELSE t.value END AS v
        FROM json_tree(NEW.entities) t
        WHERE t.type IN ('text', 'integer') AND (t.key IN ('address', 'upn', 'objectId', 'appId', 'name', 'resourceId',
            'asOrganization', 'country', 'asn') OR t.path GLOB '$[[]*].threatIntel')
        UNION ALL
        SELECT substr(t.value, instr(t.value, '@') + 1) FROM json_tree(NEW.entities) t
        WHERE t.key = 'upn' AND t.type = 'text' AND instr(t.value, '@') > 0
    ) WHERE v IS NOT NULL AND v <> '';
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER alerts_entity_values_update AFTER UPDATE OF entities ON alerts
WHEN OLD.entities IS NOT NEW.entities
BEGIN
    DELETE FROM alert_entity_values WHERE alert_id = NEW.id;
    INSERT OR IGNORE INTO alert_entity_values (value, alert_id)
    SELECT lower(v), NEW.id FROM (
        SELECT CASE t.key WHEN 'country' THEN 'country:' || t.value WHEN 'asn' THEN 'asn:' || t.value ELSE t.value END AS v
        FROM json_tree(NEW.entities) t
        WHERE t.type IN ('text', 'integer') AND (t.key IN ('address', 'upn', 'objectId', 'appId', 'name', 'resourceId',
            'asOrganization', 'country', 'asn') OR t.path GLOB '$[[]*].threatIntel')
        UNION ALL
        SELECT substr(t.value, instr(t.value, '@') + 1) FROM json_tree(NEW.entities) t
        WHERE t.key = 'upn' AND t.type = 'text' AND instr(t.value, '@') > 0
    ) WHERE v IS NOT NULL AND v <> '';
END;
-- +goose StatementEnd

-- Alerts stored before this migration.
INSERT OR IGNORE INTO alert_entity_values (value, alert_id)
SELECT lower(v), id FROM (
    SELECT a.id, t.value AS v FROM alerts a, json_tree(a.entities) t
    WHERE a.entities IS NOT NULL AND t.type = 'text'
        AND (t.key IN ('address', 'upn', 'objectId', 'appId', 'name', 'resourceId', 'asOrganization') OR t.path GLOB '$[[]*].threatIntel')
    UNION ALL
    SELECT a.id, substr(t.value, instr(t.value, '@') + 1) FROM alerts a, json_tree(a.entities) t
    WHERE a.entities IS NOT NULL AND t.key = 'upn' AND t.type = 'text' AND instr(t.value, '@') > 0
    UNION ALL
    SELECT a.id, 'country:' || t.value FROM alerts a, json_tree(a.entities) t
    WHERE a.entities IS NOT NULL AND t.key = 'country' AND t.type = 'text'
    UNION ALL
    SELECT a.id, 'asn:' || t.value FROM alerts a, json_tree(a.entities) t
    WHERE a.entities IS NOT NULL AND t.key = 'asn' AND t.type = 'integer'
) WHERE v IS NOT NULL AND v <> '';

-- +goose Down
DROP TRIGGER alerts_entity_values_update;
DROP TRIGGER alerts_entity_values_insert;
DROP TABLE alert_entity_values;
