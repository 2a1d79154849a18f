-- A coordinator's edit of a claim in the chat, between its steps (issue #16.2): which claim
-- at which version, what kind of change, and what was typed so far (sealed JSON, M-07).
-- One edit per member: starting another replaces it; it survives a restart of the bot.
CREATE TABLE claim_edits (
    member_id   INTEGER PRIMARY KEY REFERENCES members(id) ON DELETE CASCADE,
    claim_id    INTEGER NOT NULL REFERENCES claims(id) ON DELETE CASCADE,
    version     INTEGER NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('status', 'payment', 'step')),
    params_enc  BLOB NOT NULL,
    created_at  TEXT NOT NULL
);
