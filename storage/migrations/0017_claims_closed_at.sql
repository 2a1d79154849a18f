-- closed_at follows the status (issue #16.1), as the domain keeps it: set exactly while a
-- claim is paid or rejected. Imports before this version never wrote it, so claims imported
-- as paid or rejected have none, and a claim closed in chat and then re-opened by an import
-- kept its old one. Give the first the time of their last change (the best the database
-- knows; retention already counted from it) and clear the second.
UPDATE claims SET closed_at = updated_at
    WHERE status IN ('paid', 'rejected') AND closed_at IS NULL;
UPDATE claims SET closed_at = NULL
    WHERE status NOT IN ('paid', 'rejected') AND closed_at IS NOT NULL;
