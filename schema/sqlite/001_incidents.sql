-- incidentd SQLite schema, version 1 (docs/internals/storage.md).
-- Times are 100 ns ticks since 1970-01-01T00:00:00Z; enums are the model.h values.
-- `doc` is the pre-serialised incident from "redirectIncidentId" to the closing brace and
-- `alerts_off` the byte offset of its alerts array, so reads copy bytes and never build JSON.
CREATE TABLE incidents (
    tenant_id            TEXT    NOT NULL,
    incident_id          INTEGER NOT NULL,
    redirect_incident_id INTEGER,
    incident_name        TEXT    NOT NULL,
    created_time         INTEGER NOT NULL,
    last_update_time     INTEGER NOT NULL,
    assigned_to          TEXT,
    classification       INTEGER NOT NULL,
    determination        INTEGER NOT NULL,
    status               INTEGER NOT NULL,
    severity             INTEGER NOT NULL,
    tags                 TEXT    NOT NULL,
    comments             TEXT    NOT NULL,
    doc                  TEXT    NOT NULL,
    alerts_off           INTEGER NOT NULL
);
CREATE UNIQUE INDEX incidents_id ON incidents (tenant_id, incident_id);
-- The default order (lastUpdateTime desc, incidentId asc) and the documented filters walk
-- these indexes in order, so a page costs its own rows, not the table.
CREATE INDEX incidents_updated ON incidents (tenant_id, last_update_time DESC, incident_id);
CREATE INDEX incidents_created ON incidents (tenant_id, created_time, incident_id);
CREATE INDEX incidents_status_updated
    ON incidents (tenant_id, status, last_update_time DESC, incident_id);
CREATE INDEX incidents_assigned ON incidents (tenant_id, assigned_to COLLATE NOCASE);

-- One row per alert: alert ids are unique per tenant and belong to one incident.
CREATE TABLE alerts (
    tenant_id   TEXT    NOT NULL,
    alert_id    TEXT    NOT NULL,
    incident_id INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, alert_id)
) WITHOUT ROWID;
CREATE INDEX alerts_incident ON alerts (tenant_id, incident_id);
