-- Privacy: what a policy keeps beyond its first columns (minimisation,
-- notice, retention by kind, the pending change) and what a user's record
-- keeps (acknowledgement, legal hold, erasure), each one JSON document.
-- `revision` is the newest announced version, on which changes compare
-- and set: a change that waits leaves `version` (the policy in force) as
-- it was.
ALTER TABLE policies ADD COLUMN privacy TEXT NOT NULL DEFAULT '{}';
ALTER TABLE policies ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
UPDATE policies SET revision = version;

ALTER TABLE users ADD COLUMN privacy TEXT NOT NULL DEFAULT '{}';

-- The view names `u.*`: made again so it lists the new column.
DROP VIEW user_rows;
CREATE VIEW user_rows AS
SELECT u.*, a.last_heartbeat_at AS last_agent_sync_at
FROM users u
LEFT JOIN agent_states a ON a.company_id = u.company_id AND a.user_id = u.id;
