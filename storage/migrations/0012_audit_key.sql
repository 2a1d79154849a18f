-- The keyed audit chain (issue #16.5, M-16): each entry names the audit key (audit.keys in
-- CHASKI_KEY_DIR, never in the database) whose HMAC-SHA-256 made its hash. NULL marks an
-- entry of the plain SHA-256 chain written before the key existed: storage.audit accepts
-- such entries only before the first keyed one, so nobody who can write the database file
-- but not read the key folder can rewrite history and recompute the chain unnoticed.
ALTER TABLE audit ADD COLUMN key_id TEXT;
