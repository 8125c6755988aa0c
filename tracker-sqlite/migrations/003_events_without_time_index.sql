-- Activity events lose their company-wide time index.
--
-- Agents of one company upload at the same time, so each batch's events
-- fall between every other agent's events of the same minutes: in an index
-- ordered by (company, time) a batch of 1,000 events dirtied close to
-- 1,000 pages, and every commit wrote each of them to the WAL. The per-user
-- index (company, user, time, id) takes a batch on a few adjacent pages.
-- Company-wide reads in time order now merge one range of that index per
-- user (see `store.rs`), and the retention purge walks it user by user.
DROP INDEX activity_events_by_time;
