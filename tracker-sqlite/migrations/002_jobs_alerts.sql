-- tracker schema v2: background jobs (usage marks, retention purges) and alerts.
-- Same encodings as v1: ids are 16-byte UUID blobs, instants INTEGER
-- microseconds since the Unix epoch (UTC), dates TEXT 'YYYY-MM-DD'; every
-- table leads its key with company_id.

-- UTC dates whose tracking data changed since usage was last computed.
-- Ingest bumps version in its own transaction; a clear only deletes the
-- version it read, so a date marked again meanwhile stays pending.
CREATE TABLE usage_pending (
    company_id BLOB NOT NULL,
    date       TEXT NOT NULL,
    version    INTEGER NOT NULL,
    PRIMARY KEY (company_id, date)
) WITHOUT ROWID;

-- A started, unfinished retention purge and what it deleted so far, so a
-- purge stopped by a crash resumes with the same cutoff and counts.
CREATE TABLE purge_progress (
    company_id       BLOB PRIMARY KEY,
    before_at        INTEGER NOT NULL,
    before_date      TEXT NOT NULL,
    started_at       INTEGER NOT NULL,
    events           INTEGER NOT NULL,
    sessions         INTEGER NOT NULL,
    screenshots      INTEGER NOT NULL,
    screenshot_bytes INTEGER NOT NULL,
    daily_rows       INTEGER NOT NULL
) WITHOUT ROWID;

-- Open sessions only (the agent-offline alert): a small index that a
-- stopped session leaves.
CREATE INDEX work_sessions_open ON work_sessions (company_id, started_at, id)
    WHERE stopped_at IS NULL;

CREATE TABLE alerts (
    company_id  BLOB NOT NULL,
    id          BLOB NOT NULL,
    kind        TEXT NOT NULL,
    subject     BLOB NOT NULL, -- user_id, or the nil uuid for a company-wide alert
    user_id     BLOB,
    message     TEXT NOT NULL,
    details     TEXT NOT NULL, -- JSON
    raised_at   INTEGER NOT NULL,
    resolved_at INTEGER,
    PRIMARY KEY (company_id, id)
) WITHOUT ROWID;
-- At most one open alert per company, kind and subject, whatever the callers
-- race: subject is NOT NULL because NULLs never conflict in a unique index.
CREATE UNIQUE INDEX alerts_open ON alerts (company_id, kind, subject)
    WHERE resolved_at IS NULL;

CREATE TABLE alert_settings (
    company_id BLOB PRIMARY KEY,
    settings   TEXT NOT NULL, -- JSON of AlertSettings (webhook secrets included)
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE alert_deliveries (
    company_id BLOB NOT NULL,
    id         BLOB NOT NULL,
    alert_id   BLOB NOT NULL,
    event      TEXT NOT NULL,
    url        TEXT NOT NULL,
    attempt    INTEGER NOT NULL,
    at         INTEGER NOT NULL,
    status     INTEGER,
    error      TEXT,
    delivered  INTEGER NOT NULL,
    PRIMARY KEY (company_id, id)
) WITHOUT ROWID;
CREATE INDEX alert_deliveries_by_alert ON alert_deliveries (company_id, alert_id, id);
