-- The transactional outbox (R-01..R-05): every proactive message and every
-- scheduled deletion is a row here first, written in the same transaction as its cause.
-- Template parameters (alert texts, codenames) are sealed in params_enc (M-07); the
-- recipient is a member id, resolved to a chat only at send time, so an unlink cancels.
-- Timestamps are ISO 8601 UTC text (storage.codec.ts), which sorts chronologically.

CREATE TABLE outbox (
    id                   INTEGER PRIMARY KEY,
    idempotency_key      TEXT NOT NULL UNIQUE,
    kind                 TEXT NOT NULL CHECK (kind IN ('deletion', 'alert', 'help', 'checkin',
                             'notification', 'reminder', 'tally', 'housekeeping')),
    priority             INTEGER NOT NULL CHECK (priority BETWEEN 0 AND 9),
    member_id            INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    template             TEXT NOT NULL,
    params_enc           BLOB,
    correlation          TEXT,
    status               TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sending',
                             'sent', 'errored', 'dead', 'blocked', 'expired', 'cancelled')),
    attempts             INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at      TEXT NOT NULL,
    lease_until          TEXT,
    last_error_code      TEXT,
    telegram_message_id  INTEGER,
    not_before           TEXT,
    expires_at           TEXT NOT NULL,
    delete_after_s       INTEGER CHECK (delete_after_s IS NULL OR delete_after_s > 0),
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL,
    sent_at              TEXT,
    CHECK ((status = 'sending') = (lease_until IS NOT NULL))
);

-- The lease query: waiting rows by priority, due time first (R-07).
CREATE INDEX outbox_due ON outbox(status, priority, next_attempt_at);
-- Crash recovery and housekeeping: leases that ran out, rows past their expiry.
CREATE INDEX outbox_lease ON outbox(lease_until) WHERE lease_until IS NOT NULL;
CREATE INDEX outbox_expiry ON outbox(status, expires_at);
-- Cancelling a member's queued rows (unlink, block, panic: M-13, R-06).
CREATE INDEX outbox_member ON outbox(member_id, status);
-- Tallies and per-cause progress (alert:12).
CREATE INDEX outbox_correlation ON outbox(correlation) WHERE correlation IS NOT NULL;
