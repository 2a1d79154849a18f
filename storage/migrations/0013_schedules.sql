-- Schedules (issue #15): reminders, safety check-ins and digests the bot sends by itself.
-- A schedule is stored, never only armed in memory: next_due is the first occurrence not yet
-- handled, advanced by the schedules tick in the transaction that writes the occurrence's
-- outbox rows (keys 'sched:<schedule>:<due>:<member>'), so a restart loses and repeats
-- nothing. Parameters (reminder texts, claim references) are sealed (M-07).

CREATE TABLE schedules (
    id           INTEGER PRIMARY KEY,
    kind         TEXT NOT NULL CHECK (kind IN ('reminder', 'checkin', 'digest')),
    target_kind  TEXT NOT NULL CHECK (target_kind IN ('member', 'claim', 'region')),
    target       TEXT NOT NULL,
    template     TEXT NOT NULL,
    params_enc   BLOB,
    cron         TEXT,
    run_at       TEXT,
    window_s     INTEGER CHECK (window_s IS NULL OR window_s > 0),
    state        TEXT NOT NULL CHECK (state IN ('active', 'paused', 'cancelled', 'done')),
    next_due     TEXT,
    created_by   INTEGER REFERENCES members(id) ON DELETE SET NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    -- One rhythm: a cron rule (in CHASKI_TIMEZONE) or one moment.
    CHECK ((cron IS NULL) <> (run_at IS NULL))
);
-- The tick's query: active schedules whose next occurrence has come.
CREATE INDEX schedules_due ON schedules(state, next_due);

-- Every handled occurrence, once: sent (queued), expired (too late after downtime) or
-- without recipient. UNIQUE makes a second handling of the same time a no-op.
CREATE TABLE schedule_occurrences (
    id           INTEGER PRIMARY KEY,
    schedule_id  INTEGER NOT NULL REFERENCES schedules(id) ON DELETE CASCADE,
    due_at       TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('queued', 'expired', 'no_recipient')),
    recipients   INTEGER NOT NULL DEFAULT 0 CHECK (recipients >= 0),
    window_ends  TEXT,
    warned_at    TEXT,
    created_at   TEXT NOT NULL,
    UNIQUE (schedule_id, due_at)
);
-- Check-in windows that closed without the coordinators having been told.
CREATE INDEX schedule_occurrences_window ON schedule_occurrences(window_ends)
    WHERE window_ends IS NOT NULL AND warned_at IS NULL;

-- One line per member asked in a check-in occurrence; the answer is set once (help may
-- replace safe, never the reverse); late = answered after the window closed.
CREATE TABLE checkin_answers (
    occurrence_id  INTEGER NOT NULL REFERENCES schedule_occurrences(id) ON DELETE CASCADE,
    member_id      INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    answer         TEXT CHECK (answer IS NULL OR answer IN ('safe', 'help')),
    answered_at    TEXT,
    late           INTEGER NOT NULL DEFAULT 0 CHECK (late IN (0, 1)),
    -- Who took a "Necesito ayuda" (like help_requests.acked_by for alerts).
    help_acked_by  INTEGER REFERENCES members(id) ON DELETE SET NULL,
    help_acked_at  TEXT,
    PRIMARY KEY (occurrence_id, member_id),
    CHECK ((answer IS NULL) = (answered_at IS NULL)),
    CHECK (help_acked_at IS NULL OR answer = 'help')
) WITHOUT ROWID;
CREATE INDEX checkin_answers_member ON checkin_answers(member_id);
