-- Versioned rows (issue #13.3): rows of one correlation that replace each other, such as
-- the edits of one live tally. A new version cancels the older ones still waiting, and the
-- lease cancels a waiting row once a newer version of it exists, so at most one edit per
-- message is pending and an older snapshot is never sent after a newer one.
ALTER TABLE outbox ADD COLUMN version INTEGER CHECK (version IS NULL OR version > 0);

-- Only versioned rows are indexed: the lease's stale check reads nothing else.
CREATE INDEX outbox_versions ON outbox(correlation, version) WHERE version IS NOT NULL;
