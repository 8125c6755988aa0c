-- Signed checkpoints of the audit chains: append-only, like the events.
-- Numbered per chain from 1 without gaps; the platform chain's company_id
-- is the all-zero id, as for its events.
CREATE TABLE audit_checkpoints (
    company_id     BLOB NOT NULL,
    number         INTEGER NOT NULL,
    event_seq      INTEGER NOT NULL,
    head_hash      TEXT NOT NULL,
    at             INTEGER NOT NULL,
    prev_digest    TEXT NOT NULL,
    key            TEXT NOT NULL,
    next_key       TEXT,
    signature      TEXT NOT NULL,
    next_signature TEXT,
    PRIMARY KEY (company_id, number)
) WITHOUT ROWID;

CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit checkpoints are append-only');
END;
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit checkpoints are append-only');
END;
