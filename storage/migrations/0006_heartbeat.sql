-- The running bot's heartbeat, read by `chaski status` (issue #14.4): one row, rewritten by
-- the bot every few seconds (bot/services/heartbeat.py). beat_at proves the process and its
-- event loop are alive; polled_at is when Telegram last answered getUpdates, so a bot that
-- runs but hears nothing (409 Conflict, revoked token, no network) shows too. No personal
-- data; nothing to purge.
CREATE TABLE heartbeat (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    started_at      TEXT NOT NULL,
    beat_at         TEXT NOT NULL,
    polled_at       TEXT,
    pid             INTEGER NOT NULL,
    host            TEXT NOT NULL,
    version         TEXT NOT NULL,
    beat_every_s    INTEGER NOT NULL CHECK (beat_every_s > 0),
    poll_timeout_s  INTEGER NOT NULL CHECK (poll_timeout_s >= 0)
);
