-- The dashboard's entity search (as migrations/sqlite/00006_entity_values.sql):
-- every identifying value of an alert's entities, in lower case (ASCII:
-- lower() under COLLATE "C"), kept by a trigger from the entities column,
-- so that "alerts whose entities have a value starting with X" is a range
-- scan of an index instead of a scan of every alert. Values: address, UPN
-- (and its domain), object ID, app ID, name, resource ID, AS organisation,
-- each threat-intelligence entry, and "country:XX" and "asn:N".

-- +goose Up
CREATE TABLE alert_entity_values (
    value    text COLLATE "C" NOT NULL,
    alert_id text COLLATE "C" NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    PRIMARY KEY (value, alert_id)
);

CREATE INDEX alert_entity_values_alert ON alert_entity_values (alert_id);

-- The values of one alert's entities (the JSON array the store writes).
-- +goose StatementBegin
CREATE FUNCTION alert_entity_values_of(entities text) RETURNS SETOF text
LANGUAGE sql IMMUTABLE AS $$
    WITH e AS (
        SELECT x FROM jsonb_array_elements(CASE WHEN jsonb_typeof(entities::jsonb) = 'array'
            THEN entities::jsonb ELSE '[]'::jsonb END) AS x
        WHERE jsonb_typeof(x) = 'object'
    ), v AS (
        SELECT CASE f.key WHEN 'country' THEN 'country:' || (f.value #>> '{}')
            WHEN 'asn' THEN 'asn:' || (f.value #>> '{}') ELSE f.value #>> '{}' END AS v
        FROM e, jsonb_each(e.x) AS f
        WHERE jsonb_typeof(f.value) IN ('string', 'number') AND f.key IN ('address', 'upn', 'objectId', 'appId',
            'name', 'resourceId', 'asOrganization', 'country', 'asn')
        UNION ALL
        SELECT i #>> '{}' FROM e, jsonb_array_elements(CASE WHEN jsonb_typeof(e.x -> 'threatIntel') = 'array'
            THEN e.x -> 'threatIntel' ELSE '[]'::jsonb END) AS i
        WHERE jsonb_typeof(i) IN ('string', 'number')
        UNION ALL
        SELECT substr(e.x ->> 'upn', strpos(e.x ->> 'upn', '@') + 1) FROM e
        WHERE jsonb_typeof(e.x -> 'upn') = 'string' AND strpos(e.x ->> 'upn', '@') > 0
    )
    SELECT DISTINCT lower(v COLLATE "C") FROM v WHERE v IS NOT NULL AND v <> ''
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION alerts_entity_values_sync() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF OLD.entities IS NOT DISTINCT FROM NEW.entities THEN
            RETURN NULL;
        END IF;
        DELETE FROM alert_entity_values WHERE alert_id = NEW.id;
    END IF;
    IF NEW.entities IS NOT NULL THEN
        INSERT INTO alert_entity_values (value, alert_id)
        SELECT v, NEW.id FROM alert_entity_values_of(NEW.entities) AS v
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER alerts_entity_values AFTER INSERT OR UPDATE OF entities ON alerts
FOR EACH ROW EXECUTE FUNCTION alerts_entity_values_sync();

-- Alerts stored before this migration.
INSERT INTO alert_entity_values (value, alert_id)
SELECT v, a.id FROM alerts AS a, alert_entity_values_of(a.entities) AS v
WHERE a.entities IS NOT NULL
ON CONFLICT DO NOTHING;

-- +goose Down
DROP TRIGGER alerts_entity_values ON alerts;
DROP FUNCTION alerts_entity_values_sync();
DROP FUNCTION alert_entity_values_of(text);
DROP TABLE alert_entity_values;
