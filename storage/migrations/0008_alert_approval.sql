-- Who must approve an alert (issue #12.3: an administrator for text a person wrote and for
-- alerts over the threshold, never the author) and why it was refused or withdrawn (#12.4).
-- Rows from before this migration count as needing an administrator: the safe reading.
-- The status CHECK of 0003 cannot be widened without rebuilding the table, so an alert its
-- author withdrew is stored as 'rejected' with reason 'withdrawn' and no decider.
ALTER TABLE alerts ADD COLUMN approval TEXT NOT NULL DEFAULT 'admin'
    CHECK (approval IN ('none', 'peer', 'admin'));
ALTER TABLE alerts ADD COLUMN reason TEXT
    CHECK (reason IS NULL OR reason IN ('doubtful', 'details', 'not_needed', 'withdrawn'));
UPDATE alerts SET approval = 'none' WHERE status = 'sending' AND decided_by IS NULL;
