-- Claims administration (issue #16.1): what an operation's reward was and who promised it,
-- and each payment made on a claim. Labels, amounts and references are sealed like every
-- other sensitive cell (M-07); claims.paid_enc stays the sum of the claim's payments, so
-- everything that reads it (lists, reports) keeps working.
ALTER TABLE operations ADD COLUMN total_enc BLOB;
ALTER TABLE operations ADD COLUMN promised_by_enc BLOB;
ALTER TABLE operations ADD COLUMN basis_enc BLOB;
ALTER TABLE operations ADD COLUMN pay_by TEXT;

CREATE TABLE claim_payments (
    id             INTEGER PRIMARY KEY,
    claim_id       INTEGER NOT NULL REFERENCES claims(id) ON DELETE CASCADE,
    amount_enc     BLOB NOT NULL,
    paid_on        TEXT NOT NULL,
    method_enc     BLOB NOT NULL,
    reference_enc  BLOB,
    actor_id       INTEGER,
    at             TEXT NOT NULL
);
CREATE INDEX claim_payments_claim ON claim_payments(claim_id, id);
