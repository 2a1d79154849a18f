-- The retention purge is the only way audit rows may be deleted (M-15, M-16).
-- The purge inserts the one row of audit_purge, naming the cut-off, deletes the chain's
-- oldest rows older than that cut-off and removes the row again, all in one transaction, so
-- no other connection ever sees it. Any other DELETE still aborts; UPDATE always aborts.
-- storage.retention writes a checkpoint entry (the hash of the last purged row) that
-- storage.audit.SqliteAuditLog.verify() accepts as the chain's new start.

CREATE TABLE audit_purge (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    before  TEXT NOT NULL
);

DROP TRIGGER audit_no_delete;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
WHEN NOT EXISTS (SELECT 1 FROM audit_purge WHERE OLD.at < audit_purge.before)
BEGIN
    SELECT RAISE(ABORT, 'audit is append-only');
END;
