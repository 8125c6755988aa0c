-- Signed checkpoints of the audit chains: append-only, like the events.
-- Numbered per chain from 1 without gaps; the platform chain's company_id
-- is the all-zero id, as for its events.
CREATE TABLE audit_checkpoints (
    company_id     uuid NOT NULL,
    number         bigint NOT NULL,
    event_seq      bigint NOT NULL,
    head_hash      text NOT NULL,
    at             timestamptz NOT NULL,
    prev_digest    text NOT NULL,
    key            text NOT NULL,
    next_key       text,
    signature      text NOT NULL,
    next_signature text,
    PRIMARY KEY (company_id, number)
);

CREATE FUNCTION audit_checkpoints_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit checkpoints are append-only';
END;
$$;
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_checkpoints_append_only();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_checkpoints_append_only();
