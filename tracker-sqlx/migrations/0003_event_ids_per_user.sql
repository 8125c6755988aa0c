-- tracker schema v3 for PostgreSQL: activity event ids are unique per user.
--
-- Agents mint an event's id when they record it, so ids sort by time
-- across all agents: in a key of (company, id) the ids of one upload fell
-- among everyone else's and each insert touched a leaf of its own. Keyed
-- by (company, user, id), one agent's ids follow each other. The same id
-- sent by two users is two events; neither tells the other anything.
--
-- Events named by id are read through `activity_events_by_owner`: one key
-- range per user of the company instead of a scan of its events.

ALTER TABLE activity_events DROP CONSTRAINT activity_events_pkey;
ALTER TABLE activity_events ADD PRIMARY KEY (company_id, user_id, id);

CREATE VIEW activity_events_by_owner AS
SELECT e.*
FROM users u
JOIN activity_events e ON e.company_id = u.company_id AND e.user_id = u.id;
