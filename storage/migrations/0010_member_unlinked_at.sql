-- When a member was unlinked (issue #11.10, M-15): the retention purge deletes the pseudonym
-- of a member who is unlinked, has no claims left and was unlinked longer ago than the
-- closed-claims retention (90 days). Re-enrolment clears it. Members unlinked before this
-- column existed get the time of this migration: their real unlink time is unknown, and
-- counting from now never deletes anything sooner than the policy allows.
ALTER TABLE members ADD COLUMN unlinked_at TEXT;
UPDATE members SET unlinked_at = strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now')
    WHERE state = 'unlinked';
