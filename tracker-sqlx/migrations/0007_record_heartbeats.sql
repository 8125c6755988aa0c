-- Heartbeats written together: one call records a batch, a heartbeat at a
-- time by primary key, so every row is found through its index however
-- the planner rates a small table. The caller sorts the batch by
-- (company, user); rows are locked in that order (a company's users, then
-- the company), so batches of several nodes never deadlock. Answers the
-- (company, user) pairs found, whose heartbeats were stored.
--
-- Not `durable`: the statement's transaction commits without waiting for
-- its WAL to reach the disk (synchronous_commit off, for it alone). Every
-- session sees the heartbeats at once; a crash of the database server may
-- lose the last few hundred milliseconds of them, which agents send again
-- within minutes.
CREATE FUNCTION record_heartbeats(
    company_ids uuid[], user_ids uuid[], ats timestamptz[], policy_versions bigint[], agent_versions text[],
    durable boolean
) RETURNS TABLE (company_id uuid, user_id uuid) LANGUAGE plpgsql AS $$
DECLARE
    n integer;
    latest timestamptz;
BEGIN
    IF NOT durable THEN
        PERFORM set_config('synchronous_commit', 'off', true);
    END IF;
    FOR n IN 1 .. coalesce(array_length(user_ids, 1), 0) LOOP
        UPDATE users u SET last_agent_sync_at = ats[n]
            WHERE u.company_id = company_ids[n] AND u.id = user_ids[n];
        IF FOUND THEN
            INSERT INTO agent_states AS s (company_id, user_id, last_heartbeat_at, policy_version, agent_version)
                VALUES (company_ids[n], user_ids[n], ats[n], policy_versions[n], agent_versions[n])
                ON CONFLICT ON CONSTRAINT agent_states_pkey DO UPDATE
                    SET last_heartbeat_at = excluded.last_heartbeat_at,
                        policy_version = excluded.policy_version,
                        agent_version = excluded.agent_version;
            latest := greatest(latest, ats[n]);
            company_id := company_ids[n];
            user_id := user_ids[n];
            RETURN NEXT;
        END IF;
        -- The company's last sync moves once per company of the batch, after
        -- its users, and at most once a second: every agent of a company
        -- shares that row.
        IF latest IS NOT NULL
           AND (n = array_length(user_ids, 1) OR company_ids[n + 1] <> company_ids[n]) THEN
            UPDATE companies c SET last_sync_at = latest
                WHERE c.id = company_ids[n]
                  AND (c.last_sync_at IS NULL OR c.last_sync_at < latest - interval '1 second');
            latest := NULL;
        END IF;
    END LOOP;
END;
$$;
