-- The audit trail (agent/security/audit.py): who did what, when, from where, with which result; never
-- message content. Records are numbered without gaps and each one holds the hash of the one before it,
-- so `radassist audit verify` finds any record that was changed or removed. The table refuses UPDATE,
-- DELETE and TRUNCATE: the application can only append.
CREATE TABLE audit_log (
    seq bigint PRIMARY KEY CHECK (seq > 0),
    at timestamptz NOT NULL,
    actor text NOT NULL,            -- an account name, 'cli:<OS user>', or '' for an unknown login name
    client text NOT NULL,           -- the client address, or 'local' for the command line
    action text NOT NULL,           -- e.g. login, logout, thread.read, thread.delete, users.disable, purge
    target text NOT NULL DEFAULT '',
    result text NOT NULL CHECK (result IN ('success', 'failure', 'denied')),
    detail jsonb NOT NULL DEFAULT '{}',   -- counts and names only
    prev_hash text NOT NULL,
    hash text NOT NULL UNIQUE
);
CREATE INDEX audit_log_at ON audit_log (at);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_no_update_or_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
