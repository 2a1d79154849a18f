-- A coordinator's edit of a claim in the chat, between its steps (issue #16.2): which claim
-- at which version, what kind of change, and what was typed so far (sealed JSON, M-07).
-- One edit per member: starting another replaces it; it survives a restart of the bot.
CREATE TABLE claim_edits (
    member_id   INTEGER PRIMARY KEY REFERENCES members(id) ON DELETE CASCADE,
    claim_id    INTEGER NOT NULL REFERENCES claims(id) ON DELETE CASCADE,
    version     INTEGER NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('status', 'payment', 'step', 'amount')),
    params_enc  BLOB NOT NULL,
    created_at  TEXT NOT NULL
);

-- A change of a claim's promised or approved amount waits for a second person (issue #16.2,
-- M-14): never its requester; a coordinator of the claim's region or an administrator. It
-- applies only to the claim's version it was asked on (compare-and-set), else it is stale.
CREATE TABLE claim_amount_requests (
    id            INTEGER PRIMARY KEY,
    claim_id      INTEGER NOT NULL REFERENCES claims(id) ON DELETE CASCADE,
    version       INTEGER NOT NULL,
    requester_id  INTEGER NOT NULL,
    params_enc    BLOB NOT NULL,
    status        TEXT NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'approved', 'rejected', 'stale')),
    decided_by    INTEGER,
    created_at    TEXT NOT NULL,
    decided_at    TEXT
);
CREATE INDEX claim_amount_requests_pending ON claim_amount_requests(status, id);
