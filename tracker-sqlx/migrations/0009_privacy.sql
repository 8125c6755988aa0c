-- Privacy: what a policy keeps beyond its first columns (minimisation,
-- notice, retention by kind, the pending change) and what a user's record
-- keeps (acknowledgement, legal hold, erasure), each one JSON document.
-- `revision` is the newest announced version, on which changes compare
-- and set: a change that waits leaves `version` (the policy in force) as
-- it was.
ALTER TABLE policies ADD COLUMN privacy jsonb NOT NULL DEFAULT '{}';
ALTER TABLE policies ADD COLUMN revision bigint;
UPDATE policies SET revision = version;
ALTER TABLE policies ALTER COLUMN revision SET NOT NULL;

ALTER TABLE users ADD COLUMN privacy jsonb NOT NULL DEFAULT '{}';
