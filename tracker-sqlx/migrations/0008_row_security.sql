-- Row-level security: a second wall behind the company scope every query
-- of the store already has. Each tenant table admits only the rows of the
-- company the session works for, named by the store in the setting
-- `tracker.scope` (a company id; the all-zero id for the platform's own
-- rows), or every row for the few platform operations that read across
-- companies (`tracker.scope` = 'platform'). Unset, it admits nothing.
--
-- The policies bind only a role that neither owns the tables nor bypasses
-- row security: the store switches its connections to such a role when
-- `PgConfig::row_security_role` names one. Connections of the owner (and
-- superusers) pass, so a store without that role works as before.

CREATE FUNCTION tracker_scope() RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT NULLIF(NULLIF(current_setting('tracker.scope', true), ''), 'platform')::uuid
$$;

CREATE FUNCTION tracker_platform() RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT current_setting('tracker.scope', true) IS NOT DISTINCT FROM 'platform'
$$;

ALTER TABLE companies ENABLE ROW LEVEL SECURITY;
CREATE POLICY company_rows ON companies
    USING (tracker_platform() OR id = tracker_scope())
    WITH CHECK (tracker_platform() OR id = tracker_scope());

ALTER TABLE activity_daily ENABLE ROW LEVEL SECURITY;
CREATE POLICY company_rows ON activity_daily
    USING (tracker_platform() OR company_id = tracker_scope())
    WITH CHECK (tracker_platform() OR company_id = tracker_scope());

ALTER TABLE activity_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY company_rows ON activity_events
    USING (tracker_platform() OR company_id = tracker_scope())
    WITH CHECK (tracker_platform() OR company_id = tracker_scope());

ALTER TABLE agent_states ENABLE ROW LEVEL SECURITY;
CREATE POLICY company_rows ON agent_states
    USING (tracker_platform() OR company_id = tracker_scope())
    WITH CHECK (tracker_platform() OR company_id = tracker_scope());

ALTER TABLE alert_deliveries ENABLE ROW LEVEL SECURITY;
CREATE POLICY company_rows ON alert_deliveries
    USING (tracker_platform() OR company_id = tracker_scope())
    WITH CHECK (tracker_platform() OR company_id = tracker_scope());

ALTER TABLE alert_settings ENABLE ROW LEVEL SECURITY;
CREATE POLICY company_rows ON alert_settings
    USING (tracker_platform() OR company_id = tracker_scope())
    WITH CHECK (tracker_platform() OR company_id = tracker_scope());

ALTER TABLE alerts ENABLE ROW LEVEL SECURITY;
CREATE POLICY company_rows ON alerts
    USING (tracker_platform() OR company_id = tracker_scope())
    WITH CHECK (tracker_platform() OR company_id = tracker_scope());

ALTER TABLE audit_checkpoints ENABLE ROW LEVEL SECURITY;
CREATE POLICY company_rows ON audit_checkpoints
    USING (tracker_platform() OR company_id = tracker_scope())
    WITH CHECK (tracker_platform() OR company_id = tracker_scope());

ALTER TABLE audit_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY company_rows ON audit_events
    USING (tracker_platform() OR company_id = tracker_scope())
    WITH CHECK (tracker_platform() OR company_id = tracker_scope());

ALTER TABLE audit_heads ENABLE ROW LEVEL SECURITY;
CREATE POLICY company_rows ON audit_heads
    USING (tracker_platform() OR company_id = tracker_scope())
    WITH CHECK (tracker_platform() OR company_id = tracker_scope());

ALTER TABLE corrections ENABLE ROW LEVEL SECURITY;
CREATE POLICY company_rows ON corrections
    USING (tracker_platform() OR company_id = tracker_scope())
    WITH CHECK (tracker_platform() OR company_id = tracker_scope());

ALTER TABLE policies ENABLE ROW LEVEL SECURITY;
CREATE POLICY company_rows ON policies
    USING (tracker_platform() OR company_id = tracker_scope())
    WITH CHECK (tracker_platform() OR company_id = tracker_scope());

ALTER TABLE purge_progress ENABLE ROW LEVEL SECURITY;
CREATE POLICY company_rows ON purge_progress
    USING (tracker_platform() OR company_id = tracker_scope())
    WITH CHECK (tracker_platform() OR company_id = tracker_scope());

ALTER TABLE screenshots ENABLE ROW LEVEL SECURITY;
CREATE POLICY company_rows ON screenshots
    USING (tracker_platform() OR company_id = tracker_scope())
    WITH CHECK (tracker_platform() OR company_id = tracker_scope());

ALTER TABLE subscriptions ENABLE ROW LEVEL SECURITY;
CREATE POLICY company_rows ON subscriptions
    USING (tracker_platform() OR company_id = tracker_scope())
    WITH CHECK (tracker_platform() OR company_id = tracker_scope());

ALTER TABLE tasks ENABLE ROW LEVEL SECURITY;
CREATE POLICY company_rows ON tasks
    USING (tracker_platform() OR company_id = tracker_scope())
    WITH CHECK (tracker_platform() OR company_id = tracker_scope());

ALTER TABLE teams ENABLE ROW LEVEL SECURITY;
CREATE POLICY company_rows ON teams
    USING (tracker_platform() OR company_id = tracker_scope())
    WITH CHECK (tracker_platform() OR company_id = tracker_scope());

ALTER TABLE tokens ENABLE ROW LEVEL SECURITY;
CREATE POLICY company_rows ON tokens
    USING (tracker_platform() OR company_id = tracker_scope())
    WITH CHECK (tracker_platform() OR company_id = tracker_scope());

ALTER TABLE usage_daily ENABLE ROW LEVEL SECURITY;
CREATE POLICY company_rows ON usage_daily
    USING (tracker_platform() OR company_id = tracker_scope())
    WITH CHECK (tracker_platform() OR company_id = tracker_scope());

ALTER TABLE usage_pending ENABLE ROW LEVEL SECURITY;
CREATE POLICY company_rows ON usage_pending
    USING (tracker_platform() OR company_id = tracker_scope())
    WITH CHECK (tracker_platform() OR company_id = tracker_scope());

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
CREATE POLICY company_rows ON users
    USING (tracker_platform() OR company_id = tracker_scope())
    WITH CHECK (tracker_platform() OR company_id = tracker_scope());

ALTER TABLE work_sessions ENABLE ROW LEVEL SECURITY;
CREATE POLICY company_rows ON work_sessions
    USING (tracker_platform() OR company_id = tracker_scope())
    WITH CHECK (tracker_platform() OR company_id = tracker_scope());
