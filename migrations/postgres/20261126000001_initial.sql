-- The engine's tables. No foreign keys between the hot-path tables (instances, steps, jobs,
-- timers): every write to them goes through one transaction that locks the owning instance, and
-- the checks would cost on the path that must stay under a millisecond per step.
CREATE SCHEMA IF NOT EXISTS workflow;

CREATE TABLE workflow.templates (
    id          uuid        NOT NULL,
    version     integer     NOT NULL,
    tenant      text        NOT NULL,
    name        text        NOT NULL,
    description text,
    definition  jsonb       NOT NULL,
    warnings    jsonb       NOT NULL DEFAULT '[]'::jsonb,
    -- true on the newest version only, so that names are unique among live templates rather
    -- than among all versions of all templates.
    latest      boolean     NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    deleted_at  timestamptz,
    PRIMARY KEY (id, version)
);
CREATE UNIQUE INDEX templates_live_name_key ON workflow.templates (tenant, name)
    WHERE latest AND deleted_at IS NULL;
CREATE INDEX templates_tenant_latest_idx ON workflow.templates (tenant, id DESC)
    WHERE latest AND deleted_at IS NULL;

CREATE TABLE workflow.instances (
    id                 uuid        PRIMARY KEY,
    tenant             text        NOT NULL,
    template_id        uuid        NOT NULL,
    template_version   integer     NOT NULL,
    status             text        NOT NULL,
    variables          jsonb       NOT NULL,
    output             jsonb,
    error              jsonb,
    parent_instance_id uuid,
    state              jsonb       NOT NULL,
    created_at         timestamptz NOT NULL,
    started_at         timestamptz,
    completed_at       timestamptz,
    updated_at         timestamptz NOT NULL
);
CREATE INDEX instances_tenant_idx ON workflow.instances (tenant, id DESC);
CREATE INDEX instances_tenant_status_idx ON workflow.instances (tenant, status, id DESC);
CREATE INDEX instances_tenant_template_idx ON workflow.instances (tenant, template_id, id DESC);
CREATE INDEX instances_parent_idx ON workflow.instances (parent_instance_id, id DESC)
    WHERE parent_instance_id IS NOT NULL;

CREATE TABLE workflow.steps (
    id           uuid        PRIMARY KEY,
    instance_id  uuid        NOT NULL,
    tenant       text        NOT NULL,
    step_id      text        NOT NULL,
    name         text,
    type         text        NOT NULL,
    status       text        NOT NULL,
    attempt      integer     NOT NULL,
    input        jsonb,
    output       jsonb,
    error        jsonb,
    created_at   timestamptz NOT NULL,
    started_at   timestamptz,
    completed_at timestamptz
);
CREATE INDEX steps_instance_idx ON workflow.steps (instance_id, created_at, id);

CREATE TABLE workflow.triggers (
    id                uuid        PRIMARY KEY,
    tenant            text        NOT NULL,
    template_id       uuid        NOT NULL,
    type              text        NOT NULL,
    enabled           boolean     NOT NULL DEFAULT true,
    config            jsonb       NOT NULL DEFAULT '{}'::jsonb,
    secret_ciphertext bytea,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL
);
CREATE INDEX triggers_tenant_idx ON workflow.triggers (tenant, id DESC);
CREATE INDEX triggers_template_idx ON workflow.triggers (template_id);

CREATE TABLE workflow.jobs (
    execution_id uuid        PRIMARY KEY,
    attempt      integer     NOT NULL,
    instance_id  uuid        NOT NULL,
    tenant       text        NOT NULL,
    queue        text        NOT NULL,
    payload      jsonb       NOT NULL,
    lease_until  timestamptz NOT NULL
);
CREATE INDEX jobs_lease_idx ON workflow.jobs (lease_until);
CREATE INDEX jobs_instance_idx ON workflow.jobs (instance_id);

CREATE TABLE workflow.timers (
    id          uuid        PRIMARY KEY,
    instance_id uuid        NOT NULL,
    tenant      text        NOT NULL,
    due_at      timestamptz NOT NULL,
    payload     jsonb       NOT NULL
);
CREATE INDEX timers_due_idx ON workflow.timers (due_at, id);
CREATE INDEX timers_instance_idx ON workflow.timers (instance_id);

CREATE TABLE workflow.idempotency_keys (
    tenant      text        NOT NULL,
    key         text        NOT NULL,
    fingerprint text        NOT NULL,
    instance_id uuid        NOT NULL,
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant, key)
);
CREATE INDEX idempotency_keys_expiry_idx ON workflow.idempotency_keys (expires_at);
