-- The key check (issue #11.4, M-07): proof that the keys in CHASKI_KEY_DIR are the ones this
-- database was written with, so a missing, mis-mounted or swapped key folder stops the bot
-- with one line instead of running with new keys (members would become strangers and
-- anything written meanwhile would be unreadable once the real keys return). Never a key:
-- value_enc is a fixed text sealed under the data key (re-sealed by key rotation like every
-- sealed column), pepper_mac the HMAC of a fixed text under the pepper. One row, written at
-- creation (or, for a database older than this migration, at its first open).
CREATE TABLE key_check (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    value_enc   BLOB NOT NULL,
    pepper_mac  TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
