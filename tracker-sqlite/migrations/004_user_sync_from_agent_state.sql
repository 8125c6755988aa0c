-- A user's last agent sync is read from its agent state.
--
-- Both held the same instant: every heartbeat wrote it twice, to two pages
-- that differ per agent, and an update of the user could write back an
-- older instant read before a heartbeat. The agent state (one row per
-- user) is now the only copy; `user_rows` reads a user with it.
ALTER TABLE users DROP COLUMN last_agent_sync_at;

CREATE VIEW user_rows AS
SELECT u.*, a.last_heartbeat_at AS last_agent_sync_at
FROM users u
LEFT JOIN agent_states a ON a.company_id = u.company_id AND a.user_id = u.id;

-- The company's last sync follows its agents' heartbeats. Every agent of
-- the company writes that one row, so it moves by a second or more only
-- (1,000,000 µs), and never back. A trigger makes a heartbeat one
-- statement, atomic by itself.
CREATE TRIGGER agent_state_added_syncs_company AFTER INSERT ON agent_states
BEGIN
    UPDATE companies SET last_sync_at = NEW.last_heartbeat_at
    WHERE id = NEW.company_id
      AND (last_sync_at IS NULL OR last_sync_at <= NEW.last_heartbeat_at - 1000000);
END;

CREATE TRIGGER agent_state_moved_syncs_company AFTER UPDATE OF last_heartbeat_at ON agent_states
BEGIN
    UPDATE companies SET last_sync_at = NEW.last_heartbeat_at
    WHERE id = NEW.company_id
      AND (last_sync_at IS NULL OR last_sync_at <= NEW.last_heartbeat_at - 1000000);
END;
