-- When a claim's status took effect (issue #14.8): the import's optional status_date column.
-- claim_events.at stays the moment the change was recorded; events recorded before this
-- migration have no effective date and the history shows only when they were recorded.
ALTER TABLE claim_events ADD COLUMN effective_on TEXT;
