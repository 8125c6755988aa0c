-- tracker schema v1.
-- Ids are 16-byte UUID blobs; instants are INTEGER microseconds since the
-- Unix epoch (UTC); dates are TEXT 'YYYY-MM-DD'. Every tenant table leads
-- its key with company_id. The platform (OWNER accounts, the platform audit
-- chain) uses the all-zero company id.

CREATE TABLE plans (
    id                  BLOB PRIMARY KEY,
    code                TEXT NOT NULL UNIQUE,
    max_employees       INTEGER NOT NULL,
    max_storage_bytes   INTEGER NOT NULL,
    price_monthly_cents INTEGER NOT NULL
);

CREATE TABLE companies (
    id                       BLOB PRIMARY KEY,
    name                     TEXT NOT NULL,
    status                   TEXT NOT NULL,
    plan_id                  BLOB NOT NULL REFERENCES plans(id),
    trial_ends_at            INTEGER,
    subscription_expires_at  INTEGER,
    status_before_suspension TEXT,
    timezone                 TEXT NOT NULL,
    retention_days           INTEGER NOT NULL,
    last_sync_at             INTEGER,
    created_at               INTEGER NOT NULL,
    key_hash                 TEXT NOT NULL UNIQUE
);

CREATE TABLE subscriptions (
    company_id   BLOB NOT NULL,
    id           BLOB NOT NULL,
    plan_id      BLOB NOT NULL,
    amount_cents INTEGER NOT NULL,
    starts_at    INTEGER NOT NULL,
    ends_at      INTEGER,
    created_by   BLOB,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (company_id, id)
) WITHOUT ROWID;

CREATE TABLE users (
    company_id         BLOB NOT NULL,
    id                 BLOB NOT NULL,
    role               TEXT NOT NULL,
    username           TEXT NOT NULL,
    email              TEXT,
    display_name       TEXT NOT NULL,
    active             INTEGER NOT NULL,
    last_agent_sync_at INTEGER,
    password_hash      TEXT NOT NULL,
    created_at         INTEGER NOT NULL,
    PRIMARY KEY (company_id, id),
    UNIQUE (company_id, username)
) WITHOUT ROWID;

CREATE TABLE tokens (
    hash       TEXT PRIMARY KEY,
    company_id BLOB NOT NULL,
    user_id    BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX tokens_by_user ON tokens (company_id, user_id);

CREATE TABLE teams (
    company_id BLOB NOT NULL,
    id         BLOB NOT NULL,
    name       TEXT NOT NULL,
    managers   TEXT NOT NULL, -- JSON array of user ids
    members    TEXT NOT NULL, -- JSON array of user ids
    created_at INTEGER NOT NULL,
    PRIMARY KEY (company_id, id),
    UNIQUE (company_id, name)
) WITHOUT ROWID;

CREATE TABLE policies (
    company_id                  BLOB PRIMARY KEY,
    screenshots_enabled         INTEGER NOT NULL,
    screenshot_interval_seconds INTEGER NOT NULL,
    website_tracking_enabled    INTEGER NOT NULL,
    app_tracking_enabled        INTEGER NOT NULL,
    idle_threshold_seconds      INTEGER NOT NULL,
    blur_screenshots            INTEGER NOT NULL,
    version                     INTEGER NOT NULL,
    updated_at                  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE audit_events (
    company_id  BLOB NOT NULL,
    seq         INTEGER NOT NULL,
    id          BLOB NOT NULL,
    actor       TEXT NOT NULL, -- JSON
    action      TEXT NOT NULL,
    description TEXT NOT NULL,
    details     TEXT NOT NULL, -- JSON
    client_ip   TEXT,
    at          INTEGER NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL,
    PRIMARY KEY (company_id, seq)
) WITHOUT ROWID;

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;

CREATE TABLE agent_states (
    company_id        BLOB NOT NULL,
    user_id           BLOB NOT NULL,
    last_heartbeat_at INTEGER NOT NULL,
    policy_version    INTEGER,
    agent_version     TEXT,
    PRIMARY KEY (company_id, user_id)
) WITHOUT ROWID;

CREATE TABLE work_sessions (
    company_id BLOB NOT NULL,
    id         BLOB NOT NULL,
    user_id    BLOB NOT NULL,
    started_at INTEGER NOT NULL,
    stopped_at INTEGER,
    PRIMARY KEY (company_id, id)
) WITHOUT ROWID;
CREATE INDEX work_sessions_by_time ON work_sessions (company_id, started_at, id);
CREATE INDEX work_sessions_by_user ON work_sessions (company_id, user_id, started_at, id);

-- Rowid table: rows append in insert order; the agent's random ids only
-- cost an entry in the small unique index.
CREATE TABLE activity_events (
    company_id       BLOB NOT NULL,
    id               BLOB NOT NULL,
    user_id          BLOB NOT NULL,
    session_id       BLOB,
    started_at       INTEGER NOT NULL,
    duration_seconds INTEGER NOT NULL,
    kind             TEXT NOT NULL,
    app              TEXT,
    window_title     TEXT,
    url              TEXT
);
CREATE UNIQUE INDEX activity_events_key ON activity_events (company_id, id);
-- Covers the overlap check of ingest and a user's reports.
CREATE INDEX activity_events_by_user ON activity_events (company_id, user_id, started_at, id, duration_seconds);
CREATE INDEX activity_events_by_time ON activity_events (company_id, started_at, id);

-- Per user per local day (company timezone) sums of event time, kept at
-- ingest so month grids read one row per cell. exact = 0 marks a day where
-- the user's events overlap; reports compute such days from the events.
CREATE TABLE activity_daily (
    company_id BLOB NOT NULL,
    user_id    BLOB NOT NULL,
    date       TEXT NOT NULL,
    active_us  INTEGER NOT NULL,
    idle_us    INTEGER NOT NULL,
    first_us   INTEGER NOT NULL,
    last_us    INTEGER NOT NULL,
    exact      INTEGER NOT NULL,
    PRIMARY KEY (company_id, user_id, date)
) WITHOUT ROWID;

CREATE TABLE screenshots (
    company_id   BLOB NOT NULL,
    id           BLOB NOT NULL,
    user_id      BLOB NOT NULL,
    taken_at     INTEGER NOT NULL,
    size_bytes   INTEGER NOT NULL,
    sha256       TEXT NOT NULL,
    content_type TEXT NOT NULL,
    blurred      INTEGER NOT NULL,
    blob_key     TEXT NOT NULL,
    PRIMARY KEY (company_id, id)
) WITHOUT ROWID;
CREATE INDEX screenshots_by_time ON screenshots (company_id, taken_at, id);
CREATE INDEX screenshots_by_user ON screenshots (company_id, user_id, taken_at, id);

CREATE TABLE tasks (
    company_id      BLOB NOT NULL,
    id              BLOB NOT NULL,
    title           TEXT NOT NULL,
    description     TEXT,
    assignee_id     BLOB NOT NULL,
    created_by      BLOB NOT NULL,
    status          TEXT NOT NULL,
    due_on          TEXT,
    completion_note TEXT,
    completed_at    INTEGER,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (company_id, id)
) WITHOUT ROWID;
CREATE INDEX tasks_by_assignee ON tasks (company_id, assignee_id);

CREATE TABLE corrections (
    company_id    BLOB NOT NULL,
    id            BLOB NOT NULL,
    user_id       BLOB NOT NULL,
    starts_at     INTEGER NOT NULL,
    ends_at       INTEGER NOT NULL,
    reason        TEXT NOT NULL,
    status        TEXT NOT NULL,
    decided_by    BLOB,
    decided_at    INTEGER,
    decision_note TEXT,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (company_id, id)
) WITHOUT ROWID;
CREATE INDEX corrections_by_user ON corrections (company_id, user_id, starts_at);

CREATE TABLE usage_daily (
    company_id     BLOB NOT NULL,
    date           TEXT NOT NULL,
    active_seconds INTEGER NOT NULL,
    idle_seconds   INTEGER NOT NULL,
    screenshots    INTEGER NOT NULL,
    storage_bytes  INTEGER NOT NULL,
    active_users   INTEGER NOT NULL,
    PRIMARY KEY (company_id, date)
) WITHOUT ROWID;
