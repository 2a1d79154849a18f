-- An imported paid amount is a payment (issue #16.6): chaski claims import stores a file's
-- paid_amount as one payment marked imported (a re-import replaces it; it does not make the
-- claim "recorded in the bot"), so claims.paid_enc is always the sum of the claim's payments.
-- Imports before this version stored paid_enc alone. The amounts are sealed, so SQL cannot
-- compute the missing payment: pending_repairs names the repair that storage.repairs runs,
-- with the keys, the next time the database is opened (then deletes the row).
ALTER TABLE claim_payments ADD COLUMN imported INTEGER NOT NULL DEFAULT 0;

CREATE TABLE pending_repairs (
    name  TEXT PRIMARY KEY
);
INSERT INTO pending_repairs (name) VALUES ('imported_paid');
