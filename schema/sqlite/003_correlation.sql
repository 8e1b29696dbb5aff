-- incidentd SQLite schema, version 3: alert ingestion and correlation (issue 5;
-- docs/internals/correlation.md). Keys of alerts stored before this version are indexed by
-- incidentd itself after the migration, since the key rules live in src/correlate.c.

-- SHA-256 of the alert as last ingested (NULL for imported alerts) and the explanation of how
-- it was correlated (JSON, NULL for imported alerts).
ALTER TABLE alerts ADD COLUMN content_hash BLOB;
ALTER TABLE alerts ADD COLUMN correlation TEXT;

-- One row per correlation key of an alert, with the alert's activity interval and incident. A
-- lookup for a new alert is a range scan of (tenant, type, value) over last_activity >= first -
-- W, grouped by incident without visiting any other table, so a key shared by thousands of
-- alerts of one incident stays cheap. incident_id follows the alert when a merge moves it.
CREATE TABLE alert_keys (
    tenant_id      TEXT    NOT NULL,
    key_type       INTEGER NOT NULL, -- enum corr_key_type
    key_value      TEXT    NOT NULL,
    last_activity  INTEGER NOT NULL,
    alert_id       TEXT    NOT NULL,
    first_activity INTEGER NOT NULL,
    incident_id    INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, key_type, key_value, last_activity, alert_id)
) WITHOUT ROWID;
CREATE INDEX alert_keys_alert ON alert_keys (tenant_id, alert_id);

-- What naming needs from an incident's alerts (a few representative alerts) and the sort key of
-- its last alert, so an incident that only gains newer alerts is rewritten by appending to its
-- document instead of re-parsing it. NULL (after an import or a PATCH rewrote the row) means
-- "rebuild from the alerts".
ALTER TABLE incidents ADD COLUMN alert_summary TEXT;

-- Stubs pointing at an incident, found when that incident is merged in turn (chains collapse).
CREATE INDEX incidents_redirect ON incidents (tenant_id, redirect_incident_id)
    WHERE redirect_incident_id IS NOT NULL;

-- Set by the migration; incidentd indexes every stored alert's keys, then clears it.
CREATE TABLE alert_keys_pending (done INTEGER NOT NULL);
INSERT INTO alert_keys_pending VALUES (0);
