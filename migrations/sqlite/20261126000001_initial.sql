-- The SQLite twin of migrations/postgres: uuids as lowercase hyphenated TEXT (sorts like the
-- uuid), JSON as TEXT, times as RFC 3339 TEXT with six fractional digits and `Z` (sorts like
-- the time).
CREATE TABLE templates (
    id          TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    tenant      TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    description TEXT,
    definition  TEXT    NOT NULL,
    warnings    TEXT    NOT NULL DEFAULT '[]',
    latest      INTEGER NOT NULL DEFAULT 1,
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL,
    deleted_at  TEXT,
    PRIMARY KEY (id, version)
);
CREATE UNIQUE INDEX templates_live_name_key ON templates (tenant, name)
    WHERE latest = 1 AND deleted_at IS NULL;
CREATE INDEX templates_tenant_latest_idx ON templates (tenant, id DESC)
    WHERE latest = 1 AND deleted_at IS NULL;

CREATE TABLE instances (
    id                 TEXT    PRIMARY KEY,
    tenant             TEXT    NOT NULL,
    template_id        TEXT    NOT NULL,
    template_version   INTEGER NOT NULL,
    status             TEXT    NOT NULL,
    variables          TEXT    NOT NULL,
    output             TEXT,
    error              TEXT,
    parent_instance_id TEXT,
    state              TEXT    NOT NULL,
    created_at         TEXT    NOT NULL,
    started_at         TEXT,
    completed_at       TEXT,
    updated_at         TEXT    NOT NULL
);
CREATE INDEX instances_tenant_idx ON instances (tenant, id DESC);
CREATE INDEX instances_tenant_status_idx ON instances (tenant, status, id DESC);
CREATE INDEX instances_tenant_template_idx ON instances (tenant, template_id, id DESC);
CREATE INDEX instances_parent_idx ON instances (parent_instance_id, id DESC)
    WHERE parent_instance_id IS NOT NULL;

CREATE TABLE steps (
    id           TEXT    PRIMARY KEY,
    instance_id  TEXT    NOT NULL,
    tenant       TEXT    NOT NULL,
    step_id      TEXT    NOT NULL,
    name         TEXT,
    type         TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    attempt      INTEGER NOT NULL,
    input        TEXT,
    output       TEXT,
    error        TEXT,
    created_at   TEXT    NOT NULL,
    started_at   TEXT,
    completed_at TEXT
);
CREATE INDEX steps_instance_idx ON steps (instance_id, created_at, id);

CREATE TABLE triggers (
    id                TEXT    PRIMARY KEY,
    tenant            TEXT    NOT NULL,
    template_id       TEXT    NOT NULL,
    type              TEXT    NOT NULL,
    enabled           INTEGER NOT NULL DEFAULT 1,
    config            TEXT    NOT NULL DEFAULT '{}',
    secret_ciphertext BLOB,
    created_at        TEXT    NOT NULL,
    updated_at        TEXT    NOT NULL
);
CREATE INDEX triggers_tenant_idx ON triggers (tenant, id DESC);
CREATE INDEX triggers_template_idx ON triggers (template_id);

CREATE TABLE jobs (
    execution_id TEXT    PRIMARY KEY,
    attempt      INTEGER NOT NULL,
    instance_id  TEXT    NOT NULL,
    tenant       TEXT    NOT NULL,
    queue        TEXT    NOT NULL,
    payload      TEXT    NOT NULL,
    lease_until  TEXT    NOT NULL
);
CREATE INDEX jobs_lease_idx ON jobs (lease_until);
CREATE INDEX jobs_instance_idx ON jobs (instance_id);

CREATE TABLE timers (
    id          TEXT PRIMARY KEY,
    instance_id TEXT NOT NULL,
    tenant      TEXT NOT NULL,
    due_at      TEXT NOT NULL,
    payload     TEXT NOT NULL
);
CREATE INDEX timers_due_idx ON timers (due_at, id);
CREATE INDEX timers_instance_idx ON timers (instance_id);

CREATE TABLE idempotency_keys (
    tenant      TEXT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    PRIMARY KEY (tenant, key)
);
CREATE INDEX idempotency_keys_expiry_idx ON idempotency_keys (expires_at);
