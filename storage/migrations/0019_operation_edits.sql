-- An administrator creating an operation or correcting its promised payment date or total in
-- the chat (issue #16.3), between the button and the confirmation: which operation (NULL: a
-- new one), the step it waits for, and what was typed so far. What was typed (label, total,
-- dates) is as sensitive as the operation itself, so it is sealed like claim_edits (M-07).
-- One per member: starting another replaces it; it survives a restart of the bot.
CREATE TABLE operation_edits (
    member_id     INTEGER PRIMARY KEY REFERENCES members(id) ON DELETE CASCADE,
    operation_id  INTEGER,
    step          TEXT NOT NULL,
    params_enc    BLOB NOT NULL,
    created_at    TEXT NOT NULL
);
