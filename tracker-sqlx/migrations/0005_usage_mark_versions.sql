-- The usage marks' versions come from one sequence: a date cleared and
-- marked again gets a version never used before, so a usage run that read
-- the old mark cannot clear the new one (it restarted at 1).
CREATE SEQUENCE usage_mark_seq;
SELECT setval('usage_mark_seq', COALESCE(MAX(version), 0) + 1, false) FROM usage_pending;
