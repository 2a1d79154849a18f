-- Spine: regions, members and their Telegram link, invites, operations, claims, audit.
-- Sensitive values are *_enc BLOBs sealed by storage.crypto.FieldCipher (bound to table,
-- column and row id); lookups go through *_hmac keyed hashes (docs/threat-model.md §4, M-07).

CREATE TABLE regions (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE COLLATE NOCASE,
    created_at  TEXT NOT NULL
);

CREATE TABLE members (
    id             INTEGER PRIMARY KEY,
    role           TEXT NOT NULL CHECK (role IN ('informant', 'coordinator', 'admin')),
    codename_enc   BLOB NOT NULL,
    codename_hmac  TEXT NOT NULL UNIQUE,
    lang           TEXT NOT NULL DEFAULT 'es' CHECK (lang IN ('es', 'qu')),
    lang_chosen    INTEGER NOT NULL DEFAULT 0 CHECK (lang_chosen IN (0, 1)),
    state          TEXT NOT NULL DEFAULT 'active'
                   CHECK (state IN ('active', 'suspended', 'unlinked')),
    telegram_enc   BLOB,
    telegram_hmac  TEXT UNIQUE,
    blocked        INTEGER NOT NULL DEFAULT 0 CHECK (blocked IN (0, 1)),
    created_at     TEXT NOT NULL,
    linked_at      TEXT,
    CHECK ((telegram_enc IS NULL) = (telegram_hmac IS NULL))
);

CREATE TABLE member_regions (
    member_id  INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    region_id  INTEGER NOT NULL REFERENCES regions(id),
    PRIMARY KEY (member_id, region_id)
) WITHOUT ROWID;
CREATE INDEX member_regions_region ON member_regions(region_id);

CREATE TABLE invites (
    id          INTEGER PRIMARY KEY,
    code_hmac   TEXT NOT NULL UNIQUE,
    member_id   INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT,
    revoked     INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1))
);

-- Unregistered-contact and invite-failure counters, keyed by HMAC of the Telegram ID.
CREATE TABLE account_counters (
    account_hmac  TEXT NOT NULL,
    kind          TEXT NOT NULL,
    window_start  TEXT NOT NULL,
    count         INTEGER NOT NULL,
    PRIMARY KEY (account_hmac, kind)
) WITHOUT ROWID;

CREATE TABLE operations (
    id          INTEGER PRIMARY KEY,
    label_enc   BLOB NOT NULL,
    label_hmac  TEXT NOT NULL UNIQUE,
    op_date     TEXT,
    region_id   INTEGER NOT NULL REFERENCES regions(id),
    created_at  TEXT NOT NULL
);

CREATE TABLE claims (
    id              INTEGER PRIMARY KEY,
    reference_hmac  TEXT NOT NULL UNIQUE,
    reference_enc   BLOB NOT NULL,
    member_id       INTEGER NOT NULL REFERENCES members(id),
    operation_id    INTEGER NOT NULL REFERENCES operations(id),
    region_id       INTEGER NOT NULL REFERENCES regions(id),
    status          TEXT NOT NULL CHECK (status IN ('registered', 'under_review', 'approved',
                        'payment_scheduled', 'partially_paid', 'paid', 'rejected', 'reopened')),
    promised_enc    BLOB NOT NULL,
    approved_enc    BLOB,
    paid_enc        BLOB NOT NULL,
    promised_date   TEXT,
    next_step_enc   BLOB,
    next_step_date  TEXT,
    updated_at      TEXT NOT NULL,
    closed_at       TEXT,
    version         INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX claims_member ON claims(member_id);
CREATE INDEX claims_region_status ON claims(region_id, status);

CREATE TABLE claim_events (
    id         INTEGER PRIMARY KEY,
    claim_id   INTEGER NOT NULL REFERENCES claims(id) ON DELETE CASCADE,
    at         TEXT NOT NULL,
    status     TEXT NOT NULL,
    note_enc   BLOB,
    visible    INTEGER NOT NULL CHECK (visible IN (0, 1)),
    actor_id   INTEGER
);
CREATE INDEX claim_events_claim ON claim_events(claim_id, id);

-- Append-only, hash-chained, content-free (M-16).
CREATE TABLE audit (
    id          INTEGER PRIMARY KEY,
    at          TEXT NOT NULL,
    actor_id    INTEGER,
    actor_role  TEXT,
    action      TEXT NOT NULL,
    target      TEXT,
    result      TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit is append-only');
END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit is append-only');
END;

-- Inbound idempotency (R-09): an update_id is applied once.
CREATE TABLE processed_updates (
    update_id  INTEGER PRIMARY KEY,
    at         TEXT NOT NULL
);
