-- Activity events are stored per user, with their repeated strings once.
--
-- Event ids are unique per user (they were unique per company). Agents
-- mint an event's id when they record it, so ids sort by time across all
-- agents: in an index of (company, id) the 1,000 ids of one upload fell
-- among everyone else's and dirtied about one page each. Keyed by user,
-- one agent's ids follow each other and a batch lands on a few pages.
--
-- Each (company, user) that has events gets a small integer, its owner
-- key, so that events and their index carry 1 to 3 bytes instead of two
-- 16-byte ids. The owner row keeps the user's longest event, so the
-- overlap check of ingest reads back that far instead of a whole day. App names, window titles, URLs and website domains are
-- stored once per company in `activity_texts`; events point to them.
-- The table is ordered by (owner, start, id), so a user's events of a span
-- are adjacent, and `activity_ids` keeps ids unique per owner.
--
-- `activity_usage` keeps each user's active time per local day per app
-- (by_domain = 0) and per website domain (by_domain = 1), so app and
-- website reports read a row per day and name instead of every event. The
-- migration fills it from the events (a step in Rust after this file).
--
-- The view `activity_events` shows the events as they were stored before,
-- so reads are written as before.

CREATE TABLE activity_owners (
    key         INTEGER PRIMARY KEY,
    company_id  BLOB NOT NULL,
    user_id     BLOB NOT NULL,
    -- The longest event the user has sent: no stored event that overlaps
    -- a new one starts earlier than that before it.
    max_seconds INTEGER NOT NULL DEFAULT 0,
    UNIQUE (company_id, user_id)
);

CREATE TABLE activity_texts (
    key        INTEGER PRIMARY KEY,
    company_id BLOB NOT NULL,
    text       TEXT NOT NULL,
    UNIQUE (company_id, text)
);

CREATE TABLE activity (
    owner            INTEGER NOT NULL,
    started_at       INTEGER NOT NULL,
    id               BLOB NOT NULL,
    duration_seconds INTEGER NOT NULL,
    idle             INTEGER NOT NULL,
    app              INTEGER,
    window_title     INTEGER,
    url              INTEGER,
    session_id       BLOB,
    PRIMARY KEY (owner, started_at, id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX activity_ids ON activity (owner, id);

CREATE TABLE activity_usage (
    owner     INTEGER NOT NULL,
    by_domain INTEGER NOT NULL,
    date      TEXT NOT NULL,
    name      INTEGER NOT NULL,
    active_us INTEGER NOT NULL,
    PRIMARY KEY (owner, by_domain, date, name)
) WITHOUT ROWID;

INSERT INTO activity_owners (company_id, user_id, max_seconds)
SELECT company_id, user_id, max(duration_seconds) FROM activity_events
GROUP BY company_id, user_id ORDER BY company_id, user_id;

INSERT OR IGNORE INTO activity_texts (company_id, text)
SELECT company_id, app FROM activity_events WHERE app IS NOT NULL
UNION SELECT company_id, window_title FROM activity_events WHERE window_title IS NOT NULL
UNION SELECT company_id, url FROM activity_events WHERE url IS NOT NULL;

INSERT INTO activity (owner, started_at, id, duration_seconds, idle, app, window_title, url, session_id)
SELECT o.key, e.started_at, e.id, e.duration_seconds, e.kind = 'idle', a.key, t.key, u.key, e.session_id
FROM activity_events e
JOIN activity_owners o ON o.company_id = e.company_id AND o.user_id = e.user_id
LEFT JOIN activity_texts a ON a.company_id = e.company_id AND a.text = e.app
LEFT JOIN activity_texts t ON t.company_id = e.company_id AND t.text = e.window_title
LEFT JOIN activity_texts u ON u.company_id = e.company_id AND u.text = e.url
ORDER BY o.key, e.started_at, e.id;

DROP TABLE activity_events;

CREATE VIEW activity_events AS
SELECT o.company_id, e.id, o.user_id, e.session_id, e.started_at, e.duration_seconds,
       CASE e.idle WHEN 0 THEN 'active' ELSE 'idle' END AS kind,
       a.text AS app, t.text AS window_title, u.text AS url
FROM activity e
JOIN activity_owners o ON o.key = e.owner
LEFT JOIN activity_texts a ON a.key = e.app
LEFT JOIN activity_texts t ON t.key = e.window_title
LEFT JOIN activity_texts u ON u.key = e.url;

-- The same, for events named by id: one key lookup per owner and id.
CREATE VIEW activity_events_by_id AS
SELECT o.company_id, e.id, o.user_id, e.session_id, e.started_at, e.duration_seconds,
       CASE e.idle WHEN 0 THEN 'active' ELSE 'idle' END AS kind,
       a.text AS app, t.text AS window_title, u.text AS url
FROM activity_owners o
JOIN activity e INDEXED BY activity_ids ON e.owner = o.key
LEFT JOIN activity_texts a ON a.key = e.app
LEFT JOIN activity_texts t ON t.key = e.window_title
LEFT JOIN activity_texts u ON u.key = e.url;
