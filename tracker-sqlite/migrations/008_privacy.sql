-- Privacy: what a policy keeps beyond its first columns (minimisation,
-- notice, retention by kind, the pending change) and what a user's record
-- keeps (acknowledgement, legal hold, erasure), each one JSON document.
-- `revision` is the newest announced version, on which changes compare
-- and set: a change that waits leaves `version` (the policy in force) as
-- it was.
ALTER TABLE policies ADD COLUMN privacy TEXT NOT NULL DEFAULT '{}';
ALTER TABLE policies ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
UPDATE policies SET revision = version;

-- A legal hold on the whole company (JSON null for none).
ALTER TABLE companies ADD COLUMN legal_hold TEXT NOT NULL DEFAULT 'null';

ALTER TABLE users ADD COLUMN privacy TEXT NOT NULL DEFAULT '{}';

-- The view names `u.*`: made again so it lists the new column.
DROP VIEW user_rows;
CREATE VIEW user_rows AS
SELECT u.*, a.last_heartbeat_at AS last_agent_sync_at
FROM users u
LEFT JOIN agent_states a ON a.company_id = u.company_id AND a.user_id = u.id;

-- Who read whose tracking data: one row per (actor, subject, kind, UTC
-- day), its id derived from them, counts added by every read. Only the
-- retention purge deletes rows (by day).
CREATE TABLE access_log (
    company_id BLOB NOT NULL,
    id         BLOB NOT NULL,
    actor_id   BLOB NOT NULL,
    subject_id BLOB NOT NULL,
    kind       TEXT NOT NULL,
    day        TEXT NOT NULL,
    count      INTEGER NOT NULL,
    first_at   INTEGER NOT NULL,
    last_at    INTEGER NOT NULL,
    PRIMARY KEY (company_id, id)
) WITHOUT ROWID;
CREATE INDEX access_log_by_time ON access_log (company_id, first_at, id);
CREATE INDEX access_log_by_day ON access_log (company_id, day);

ALTER TABLE purge_progress ADD COLUMN access_records INTEGER NOT NULL DEFAULT 0;
ALTER TABLE purge_progress ADD COLUMN details INTEGER NOT NULL DEFAULT 0;
