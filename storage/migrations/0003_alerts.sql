-- Safety alerts (docs/architecture.md §8; M-14, R-01): drafts being composed, alerts,
-- their target regions, one delivery record per recipient with its answer, and help
-- requests. Texts and template values are sealed (*_enc, M-07); what was sent to whom and its
-- outcome lives in the outbox rows (correlation 'alert:<id>', key 'alert:<id>:<member>').

-- One draft per coordinator, persisted so a restart does not drop a composition.
CREATE TABLE alert_drafts (
    member_id    INTEGER PRIMARY KEY REFERENCES members(id) ON DELETE CASCADE,
    nonce        TEXT NOT NULL,
    template     TEXT,
    params_enc   BLOB,
    text_es_enc  BLOB,
    text_qu_enc  BLOB,
    regions      TEXT NOT NULL DEFAULT '',
    severity     TEXT CHECK (severity IS NULL OR severity IN ('info', 'warning', 'urgent')),
    updated_at   TEXT NOT NULL
);

CREATE TABLE alerts (
    id                INTEGER PRIMARY KEY,
    creator_id        INTEGER NOT NULL REFERENCES members(id),
    nonce             TEXT NOT NULL,
    template          TEXT,
    params_enc        BLOB,
    text_es_enc       BLOB,
    text_qu_enc       BLOB,
    severity          TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'urgent')),
    status            TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'rejected')),
    recipients        INTEGER NOT NULL DEFAULT 0 CHECK (recipients >= 0),
    created_at        TEXT NOT NULL,
    decided_by        INTEGER REFERENCES members(id),
    decided_at        TEXT,
    tally_message_id  INTEGER,
    tally_version     INTEGER NOT NULL DEFAULT 0,
    tally_sig         TEXT,
    -- Confirming the same draft twice creates one alert (T-33).
    UNIQUE (creator_id, nonce),
    -- Free text or a template, never both (M-14 needs to know which).
    CHECK ((template IS NULL) = (text_es_enc IS NOT NULL AND text_qu_enc IS NOT NULL)),
    -- Two-person rule (M-14): whoever decided is never the creator.
    CHECK (decided_by IS NULL OR decided_by <> creator_id)
);
CREATE INDEX alerts_status_created ON alerts(status, created_at);
CREATE INDEX alerts_created ON alerts(created_at);

CREATE TABLE alert_regions (
    alert_id   INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
    region_id  INTEGER NOT NULL REFERENCES regions(id),
    PRIMARY KEY (alert_id, region_id)
) WITHOUT ROWID;

-- One row per recipient; the answer is set once (help may replace safe, never the reverse).
CREATE TABLE alert_deliveries (
    alert_id     INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
    member_id    INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    answer       TEXT CHECK (answer IS NULL OR answer IN ('safe', 'help')),
    answered_at  TEXT,
    PRIMARY KEY (alert_id, member_id),
    CHECK ((answer IS NULL) = (answered_at IS NULL))
) WITHOUT ROWID;
CREATE INDEX alert_deliveries_member ON alert_deliveries(member_id);

CREATE TABLE help_requests (
    id          INTEGER PRIMARY KEY,
    alert_id    INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
    member_id   INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    region_id   INTEGER REFERENCES regions(id),
    created_at  TEXT NOT NULL,
    acked_by    INTEGER REFERENCES members(id),
    acked_at    TEXT,
    UNIQUE (alert_id, member_id),
    CHECK ((acked_by IS NULL) = (acked_at IS NULL))
);
