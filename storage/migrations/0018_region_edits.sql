-- An administrator adding or renaming a region in the chat (issue #16.3), between the button
-- and the confirmation: which region (NULL: a new one) and the name typed so far (NULL until
-- typed). One per member: starting another replaces it; it survives a restart of the bot.
-- Region names are plaintext anyway (needed for scoping), so nothing here is sealed.
CREATE TABLE region_edits (
    member_id   INTEGER PRIMARY KEY REFERENCES members(id) ON DELETE CASCADE,
    region_id   INTEGER,
    name        TEXT,
    created_at  TEXT NOT NULL
);
