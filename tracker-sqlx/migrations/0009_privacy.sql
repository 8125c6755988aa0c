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

-- A legal hold on the whole company (JSON null for none).
ALTER TABLE companies ADD COLUMN legal_hold jsonb NOT NULL DEFAULT 'null';

ALTER TABLE users ADD COLUMN privacy jsonb NOT NULL DEFAULT '{}';

-- Who read whose tracking data: one row per (actor, subject, kind, UTC
-- day), its id derived from them, counts added by every read. Only the
-- retention purge deletes rows (by day).
CREATE TABLE access_log (
    company_id uuid NOT NULL,
    id         uuid NOT NULL,
    actor_id   uuid NOT NULL,
    subject_id uuid NOT NULL,
    kind       text NOT NULL,
    day        date NOT NULL,
    count      bigint NOT NULL,
    first_at   timestamptz NOT NULL,
    last_at    timestamptz NOT NULL,
    PRIMARY KEY (company_id, id)
);
CREATE INDEX access_log_by_time ON access_log (company_id, first_at, id);
CREATE INDEX access_log_by_day ON access_log (company_id, day);

ALTER TABLE purge_progress ADD COLUMN access_records bigint NOT NULL DEFAULT 0;
ALTER TABLE purge_progress ADD COLUMN details bigint NOT NULL DEFAULT 0;

ALTER TABLE access_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY company_rows ON access_log
    USING (tracker_platform() OR company_id = tracker_scope())
    WITH CHECK (tracker_platform() OR company_id = tracker_scope());
