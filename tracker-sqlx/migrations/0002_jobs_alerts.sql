-- tracker schema v2 for PostgreSQL: bookkeeping of the background jobs
-- (usage marks, purge progress) and alerts.
--
-- Like v1, every table and index leads with company_id, so the schema stays
-- distributable by company_id.

-- UTC dates whose tracking data changed since the usage job last computed
-- them. Ingest bumps `version` in its own transaction; the job deletes a
-- mark only if its version is still the one it read, so data arriving
-- while it computes keeps the date pending.
CREATE TABLE usage_pending (
    company_id uuid NOT NULL,
    date       date NOT NULL,
    version    bigint NOT NULL,
    PRIMARY KEY (company_id, date)
);

-- A retention purge that has started and not finished: what it deletes and
-- what it deleted so far, so a purge stopped by a crash resumes from it.
CREATE TABLE purge_progress (
    company_id       uuid PRIMARY KEY,
    before_at        timestamptz NOT NULL,
    before_date      date NOT NULL,
    started_at       timestamptz NOT NULL,
    events           bigint NOT NULL,
    sessions         bigint NOT NULL,
    screenshots      bigint NOT NULL,
    screenshot_bytes bigint NOT NULL,
    daily_rows       bigint NOT NULL
);

-- Open sessions, for the agent-offline alert: a company's few open
-- sessions without reading its whole history.
CREATE INDEX work_sessions_open ON work_sessions (company_id, started_at, id) WHERE stopped_at IS NULL;

-- subject is the user of a per-user alert, or the all-zero uuid for a
-- company-wide one: NULLs would never conflict in the unique index below.
CREATE TABLE alerts (
    company_id  uuid NOT NULL,
    id          uuid NOT NULL,
    kind        text NOT NULL,
    subject     uuid NOT NULL,
    user_id     uuid,
    message     text NOT NULL,
    details     jsonb NOT NULL,
    raised_at   timestamptz NOT NULL,
    resolved_at timestamptz,
    PRIMARY KEY (company_id, id)
);
-- At most one open alert per company, kind and subject, even when two
-- writers raise it at once.
CREATE UNIQUE INDEX alerts_one_open ON alerts (company_id, kind, subject) WHERE resolved_at IS NULL;

-- The serde form of AlertSettings (webhook secrets included: they are sent
-- with every delivery, so they cannot be stored as digests).
CREATE TABLE alert_settings (
    company_id uuid PRIMARY KEY,
    settings   jsonb NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE alert_deliveries (
    company_id uuid NOT NULL,
    id         uuid NOT NULL,
    alert_id   uuid NOT NULL,
    event      text NOT NULL,
    url        text NOT NULL,
    attempt    integer NOT NULL,
    at         timestamptz NOT NULL,
    status     integer,
    error      text,
    delivered  boolean NOT NULL,
    PRIMARY KEY (company_id, id)
);
CREATE INDEX alert_deliveries_by_alert ON alert_deliveries (company_id, alert_id, id);
