-- incidentd SQLite schema, version 4: alerts leave the incident document (issue 5, point 9;
-- docs/internals/storage.md). An incident row keeps its head (`doc` from "redirectIncidentId"
-- through "alerts":, alerts_off = its length); each alert's text is its own row, so an alert
-- joining an incident writes one row and a small head instead of rewriting every alert the
-- incident holds. Reads append the alerts in order from alerts_incident.
--
-- `alerts` becomes a rowid table: rows are appended in arrival order (new alerts share pages),
-- and the per-alert text would overflow the leaves of a table clustered on random alert ids.
-- The texts are filled in by incidentd after the migration (alert_rows_pending), because they
-- must be the canonical serialisation of src/incident.c, which SQL cannot reproduce.
CREATE TABLE alerts_v4 (
    tenant_id    TEXT    NOT NULL,
    alert_id     TEXT    NOT NULL,
    incident_id  INTEGER NOT NULL,
    created_time INTEGER NOT NULL DEFAULT 0, -- creationTime in ticks: the alerts' order
    content_hash BLOB,
    correlation  TEXT,
    doc          TEXT    NOT NULL DEFAULT '' -- the alert's JSON text, incidentId included
);
INSERT INTO alerts_v4 (tenant_id, alert_id, incident_id, content_hash, correlation)
    SELECT tenant_id, alert_id, incident_id, content_hash, correlation FROM alerts;
DROP TABLE alerts;
ALTER TABLE alerts_v4 RENAME TO alerts;
CREATE UNIQUE INDEX alerts_id ON alerts (tenant_id, alert_id);
CREATE INDEX alerts_incident ON alerts (tenant_id, incident_id, created_time, alert_id);

-- Set by the migration; incidentd moves every stored alert's text into its row, then drops it.
CREATE TABLE alert_rows_pending (done INTEGER NOT NULL);
INSERT INTO alert_rows_pending VALUES (0);
