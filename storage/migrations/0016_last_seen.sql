-- The last DAY a member used the bot (issue #16.3: "who has not opened the bot for N days").
-- A date, no time, written at most once a day per member: a seized database shows on which
-- day someone last opened the bot, not when, nor how often (docs/threat-model.md, last seen).
-- Cleared when the account is unlinked; deleted with the member. The CHECK refuses anything
-- but a plain YYYY-MM-DD date (date() gives NULL, or another text, for anything else).
ALTER TABLE members ADD COLUMN last_seen_day TEXT
    CHECK (last_seen_day IS NULL OR date(last_seen_day) IS last_seen_day);
