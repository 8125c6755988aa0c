-- tracker schema v1 for PostgreSQL.
--
-- Tables are created unqualified: the store runs with its own schema first
-- on the search_path (default "tracker"), so they land there.
--
-- Every tenant table leads its primary key with company_id so the schema
-- can be distributed by company_id as it is. The platform (OWNER accounts,
-- the platform audit chain) uses the all-zero company id.

CREATE TABLE plans (
    id                  uuid PRIMARY KEY,
    code                text NOT NULL,
    max_employees       integer NOT NULL,
    max_storage_bytes   bigint NOT NULL,
    price_monthly_cents bigint NOT NULL,
    CONSTRAINT plans_code_key UNIQUE (code)
);

-- companies.id is the tenant key itself (the distribution column).
CREATE TABLE companies (
    id                       uuid PRIMARY KEY,
    name                     text NOT NULL,
    status                   text NOT NULL,
    plan_id                  uuid NOT NULL,
    trial_ends_at            timestamptz,
    subscription_expires_at  timestamptz,
    status_before_suspension text,
    timezone                 text NOT NULL,
    retention_days           integer NOT NULL,
    last_sync_at             timestamptz,
    created_at               timestamptz NOT NULL,
    key_hash                 text NOT NULL
);
CREATE INDEX companies_by_key_hash ON companies (key_hash);

CREATE TABLE subscriptions (
    company_id   uuid NOT NULL,
    id           uuid NOT NULL,
    plan_id      uuid NOT NULL,
    amount_cents bigint NOT NULL,
    starts_at    timestamptz NOT NULL,
    ends_at      timestamptz,
    created_by   uuid,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (company_id, id)
);

CREATE TABLE users (
    company_id         uuid NOT NULL,
    id                 uuid NOT NULL,
    role               text NOT NULL,
    username           text NOT NULL,
    email              text,
    display_name       text NOT NULL,
    active             boolean NOT NULL,
    last_agent_sync_at timestamptz,
    password_hash      text NOT NULL,
    created_at         timestamptz NOT NULL,
    PRIMARY KEY (company_id, id),
    CONSTRAINT users_username_key UNIQUE (company_id, username)
);

CREATE TABLE tokens (
    company_id uuid NOT NULL,
    hash       text NOT NULL,
    user_id    uuid NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (company_id, hash)
);
-- Tokens are looked up by digest alone.
CREATE INDEX tokens_by_hash ON tokens (hash);
CREATE INDEX tokens_by_user ON tokens (company_id, user_id);

CREATE TABLE teams (
    company_id uuid NOT NULL,
    id         uuid NOT NULL,
    name       text NOT NULL,
    managers   uuid[] NOT NULL,
    members    uuid[] NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (company_id, id),
    CONSTRAINT teams_name_key UNIQUE (company_id, name)
);

CREATE TABLE policies (
    company_id                  uuid PRIMARY KEY,
    screenshots_enabled         boolean NOT NULL,
    screenshot_interval_seconds integer NOT NULL,
    website_tracking_enabled    boolean NOT NULL,
    app_tracking_enabled        boolean NOT NULL,
    idle_threshold_seconds      integer NOT NULL,
    blur_screenshots            boolean NOT NULL,
    version                     bigint NOT NULL,
    updated_at                  timestamptz NOT NULL
);

CREATE TABLE audit_events (
    company_id  uuid NOT NULL,
    seq         bigint NOT NULL,
    id          uuid NOT NULL,
    actor       jsonb NOT NULL,
    action      text NOT NULL,
    description text NOT NULL,
    details     jsonb NOT NULL,
    client_ip   text,
    at          timestamptz NOT NULL,
    prev_hash   text NOT NULL,
    hash        text NOT NULL,
    PRIMARY KEY (company_id, seq)
);

-- The head of each chain. Appends lock this row, so concurrent writers of
-- one chain take turns and never fork it.
CREATE TABLE audit_heads (
    company_id uuid PRIMARY KEY,
    seq        bigint NOT NULL,
    hash       text NOT NULL
);

CREATE FUNCTION audit_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only';
END;
$$;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

CREATE TABLE agent_states (
    company_id        uuid NOT NULL,
    user_id           uuid NOT NULL,
    last_heartbeat_at timestamptz NOT NULL,
    policy_version    bigint,
    agent_version     text,
    PRIMARY KEY (company_id, user_id)
);

CREATE TABLE work_sessions (
    company_id uuid NOT NULL,
    id         uuid NOT NULL,
    user_id    uuid NOT NULL,
    started_at timestamptz NOT NULL,
    stopped_at timestamptz,
    PRIMARY KEY (company_id, id)
);
CREATE INDEX work_sessions_by_time ON work_sessions (company_id, started_at, id);
CREATE INDEX work_sessions_by_user ON work_sessions (company_id, user_id, started_at, id);

CREATE TABLE activity_events (
    company_id       uuid NOT NULL,
    id               uuid NOT NULL,
    user_id          uuid NOT NULL,
    session_id       uuid,
    started_at       timestamptz NOT NULL,
    duration_seconds integer NOT NULL,
    kind             text NOT NULL,
    app              text,
    window_title     text,
    url              text,
    PRIMARY KEY (company_id, id)
);
-- Covers the overlap check of ingest and a user's reports.
CREATE INDEX activity_events_by_user ON activity_events (company_id, user_id, started_at, id) INCLUDE (duration_seconds);
CREATE INDEX activity_events_by_time ON activity_events (company_id, started_at, id);

-- Per user per local day (company timezone) sums of event time in
-- microseconds, kept at ingest so month grids read one row per cell.
-- exact = false marks a day where the user's events overlap; reports
-- compute such days from the events.
CREATE TABLE activity_daily (
    company_id uuid NOT NULL,
    user_id    uuid NOT NULL,
    date       date NOT NULL,
    active_us  bigint NOT NULL,
    idle_us    bigint NOT NULL,
    first_at   timestamptz NOT NULL,
    last_at    timestamptz NOT NULL,
    exact      boolean NOT NULL,
    PRIMARY KEY (company_id, user_id, date)
);

CREATE TABLE screenshots (
    company_id   uuid NOT NULL,
    id           uuid NOT NULL,
    user_id      uuid NOT NULL,
    taken_at     timestamptz NOT NULL,
    size_bytes   bigint NOT NULL,
    sha256       text NOT NULL,
    content_type text NOT NULL,
    blurred      boolean NOT NULL,
    blob_key     text NOT NULL,
    PRIMARY KEY (company_id, id)
);
CREATE INDEX screenshots_by_time ON screenshots (company_id, taken_at, id);
CREATE INDEX screenshots_by_user ON screenshots (company_id, user_id, taken_at, id);

CREATE TABLE tasks (
    company_id      uuid NOT NULL,
    id              uuid NOT NULL,
    title           text NOT NULL,
    description     text,
    assignee_id     uuid NOT NULL,
    created_by      uuid NOT NULL,
    status          text NOT NULL,
    due_on          date,
    completion_note text,
    completed_at    timestamptz,
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (company_id, id)
);
CREATE INDEX tasks_by_assignee ON tasks (company_id, assignee_id, id);

CREATE TABLE corrections (
    company_id    uuid NOT NULL,
    id            uuid NOT NULL,
    user_id       uuid NOT NULL,
    starts_at     timestamptz NOT NULL,
    ends_at       timestamptz NOT NULL,
    reason        text NOT NULL,
    status        text NOT NULL,
    decided_by    uuid,
    decided_at    timestamptz,
    decision_note text,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (company_id, id)
);
CREATE INDEX corrections_by_user ON corrections (company_id, user_id, starts_at);

CREATE TABLE usage_daily (
    company_id     uuid NOT NULL,
    date           date NOT NULL,
    active_seconds bigint NOT NULL,
    idle_seconds   bigint NOT NULL,
    screenshots    bigint NOT NULL,
    storage_bytes  bigint NOT NULL,
    active_users   integer NOT NULL,
    PRIMARY KEY (company_id, date)
);
