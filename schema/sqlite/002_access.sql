-- incidentd SQLite schema, version 2: tenants, applications, users, signing keys and the
-- device groups each incident is exposed to (issue 3; docs/internals/storage.md).

-- A tenant exists once anything was created for it; tokens naming another tid are refused.
CREATE TABLE tenants (
    tenant_id    TEXT    NOT NULL PRIMARY KEY,
    created_time INTEGER NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO tenants (tenant_id, created_time)
    SELECT DISTINCT tenant_id, 0 FROM incidents;

-- Client secrets are stored only as salted SHA-256 digests (the secret is 256 random bits, so
-- a slow password hash would add nothing but latency to the token endpoint).
CREATE TABLE applications (
    client_id    TEXT    NOT NULL PRIMARY KEY,
    tenant_id    TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    roles        TEXT    NOT NULL, -- space-separated
    secret_salt  BLOB    NOT NULL,
    secret_hash  BLOB    NOT NULL,
    quota        TEXT,             -- per-application quota overrides (issue 4)
    created_time INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX applications_tenant ON applications (tenant_id, name);

CREATE TABLE users (
    tenant_id     TEXT    NOT NULL,
    upn           TEXT    NOT NULL COLLATE NOCASE,
    device_groups TEXT    NOT NULL, -- JSON array of rbacGroupName values; [] = every incident
    created_time  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, upn)
) WITHOUT ROWID;

-- Private keys are stored encrypted (PKCS#8, AES-256) under the server's key file.
CREATE TABLE signing_keys (
    kid          TEXT    NOT NULL PRIMARY KEY,
    tenant_id    TEXT    NOT NULL,
    private_pem  TEXT    NOT NULL,
    public_pem   TEXT    NOT NULL,
    created_time INTEGER NOT NULL,
    retired_time INTEGER          -- NULL: signs new tokens; else verifies until tokens expire
) WITHOUT ROWID;
CREATE INDEX signing_keys_tenant ON signing_keys (tenant_id, created_time);

-- Device groups (alerts[].devices[].rbacGroupName) of each incident, for delegated scoping.
CREATE TABLE incident_groups (
    tenant_id   TEXT    NOT NULL,
    incident_id INTEGER NOT NULL,
    rbac_group  TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, incident_id, rbac_group)
) WITHOUT ROWID;
CREATE INDEX incident_groups_group ON incident_groups (tenant_id, rbac_group, incident_id);
INSERT OR IGNORE INTO incident_groups (tenant_id, incident_id, rbac_group)
    SELECT i.tenant_id, i.incident_id, json_extract(d.value, '$.rbacGroupName')
    FROM incidents i,
         json_each(json_extract('{' || i.doc, '$.alerts')) a,
         json_each(json_extract(a.value, '$.devices')) d
    WHERE json_type(d.value, '$.rbacGroupName') = 'text';
