-- PINs, PIN prompts and the message ids of each member's chat (M-05, M-13).
-- PIN hashes are scrypt strings sealed with the field cipher (bound to the member's row), so a
-- stolen database alone does not even allow an offline guess of a 6-digit PIN (M-07).
-- Timestamps are ISO 8601 UTC text (storage.codec.ts), which sorts chronologically.

CREATE TABLE member_pins (
    member_id       INTEGER PRIMARY KEY REFERENCES members(id) ON DELETE CASCADE,
    pin_enc         BLOB,
    duress_enc      BLOB,
    -- Failed attempts since the last success; 5 → 15 min lock, doubling; 10 → reset needed.
    failures        INTEGER NOT NULL DEFAULT 0 CHECK (failures >= 0),
    locked_until    TEXT,
    reset_required  INTEGER NOT NULL DEFAULT 0 CHECK (reset_required IN (0, 1)),
    -- A verified PIN opens a session (≤ 10 min); a duress PIN opens a decoy one.
    session_until   TEXT,
    session_decoy   INTEGER NOT NULL DEFAULT 0 CHECK (session_decoy IN (0, 1)),
    -- Set by a duress PIN: unlink once the decoy has been deleted (M-13b).
    unlink_at       TEXT,
    updated_at      TEXT NOT NULL
);
CREATE INDEX member_pins_unlink ON member_pins(unlink_at) WHERE unlink_at IS NOT NULL;

-- "The next plain text of this member is a PIN" (expires after 2 minutes). pending_enc holds
-- the sealed hash of a new PIN awaiting its confirmation, never the PIN itself.
CREATE TABLE pin_prompts (
    member_id    INTEGER PRIMARY KEY REFERENCES members(id) ON DELETE CASCADE,
    purpose      TEXT NOT NULL CHECK (purpose IN ('verify', 'new', 'confirm', 'duress_new',
                     'duress_confirm')),
    then_action  TEXT,
    pending_enc  BLOB,
    expires_at   TEXT NOT NULL
);

-- Ids of messages the bot sent to or received from a linked member, so /borrar can delete
-- them (deleteMessages, ≤ 100 per call). Ids alone reveal nothing; rows older than 48 h are
-- purged because Telegram no longer lets the bot delete those messages.
CREATE TABLE chat_messages (
    member_id   INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    message_id  INTEGER NOT NULL,
    at          TEXT NOT NULL,
    PRIMARY KEY (member_id, message_id)
) WITHOUT ROWID;
CREATE INDEX chat_messages_at ON chat_messages(at);

CREATE INDEX processed_updates_at ON processed_updates(at);
