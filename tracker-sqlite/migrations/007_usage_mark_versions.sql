-- The usage marks' versions come from one counter: a date cleared and
-- marked again gets a version never used before, so a usage run that read
-- the old mark cannot clear the new one.
CREATE TABLE usage_mark_seq (last INTEGER NOT NULL);
INSERT INTO usage_mark_seq (last) SELECT COALESCE(MAX(version), 0) FROM usage_pending;
