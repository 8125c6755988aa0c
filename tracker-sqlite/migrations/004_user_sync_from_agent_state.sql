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
