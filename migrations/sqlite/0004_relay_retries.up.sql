-- The dead-letter outbox relay defers a row whose publish failed (the broker
-- refused that one message) instead of retrying it ahead of every row behind
-- it: how often it failed and the last error; relay_until (from 0001) holds
-- when it is due again.
ALTER TABLE dead_letters ADD COLUMN publish_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE dead_letters ADD COLUMN publish_error TEXT;
