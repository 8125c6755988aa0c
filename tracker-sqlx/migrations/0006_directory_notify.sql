-- Nodes keep tokens' contexts (token, user, company, policy) in memory.
-- Every change of those rows, by any node or by hand, is announced on the
-- channel `tracker_directory` as "<schema> <company id>" (the all-zero id
-- for the platform's users), delivered when its transaction commits, so
-- every node forgets what it holds of that company. The sync times a
-- heartbeat moves are not announced: no decision reads them from a
-- context.
CREATE FUNCTION directory_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    row_company uuid;
BEGIN
    IF TG_TABLE_NAME = 'companies' THEN
        row_company := OLD.id;
    ELSE
        row_company := OLD.company_id;
    END IF;
    PERFORM pg_notify('tracker_directory', TG_TABLE_SCHEMA || ' ' || row_company::text);
    RETURN NULL;
END;
$$;

CREATE TRIGGER tokens_changed AFTER UPDATE OR DELETE ON tokens
    FOR EACH ROW EXECUTE FUNCTION directory_changed();
CREATE TRIGGER policies_changed AFTER UPDATE OR DELETE ON policies
    FOR EACH ROW EXECUTE FUNCTION directory_changed();
-- Every heartbeat updates its user: the columns are compared one by one,
-- which costs less than comparing whole rows.
CREATE TRIGGER users_changed AFTER UPDATE ON users
    FOR EACH ROW
    WHEN ((OLD.role, OLD.username, OLD.email, OLD.display_name, OLD.active, OLD.password_hash, OLD.created_at)
          IS DISTINCT FROM (NEW.role, NEW.username, NEW.email, NEW.display_name, NEW.active, NEW.password_hash, NEW.created_at))
    EXECUTE FUNCTION directory_changed();
CREATE TRIGGER users_deleted AFTER DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION directory_changed();
CREATE TRIGGER companies_changed AFTER UPDATE ON companies
    FOR EACH ROW
    WHEN ((to_jsonb(OLD) - 'last_sync_at') IS DISTINCT FROM (to_jsonb(NEW) - 'last_sync_at'))
    EXECUTE FUNCTION directory_changed();
CREATE TRIGGER companies_deleted AFTER DELETE ON companies
    FOR EACH ROW EXECUTE FUNCTION directory_changed();
