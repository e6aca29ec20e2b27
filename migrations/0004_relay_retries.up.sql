-- The dead-letter outbox relay defers a row whose publish failed (the broker
-- refused that one message) instead of retrying it ahead of every row behind
-- it: how often it failed, the last error, and when it is due again.
ALTER TABLE dead_letters ADD COLUMN publish_attempts integer NOT NULL DEFAULT 0;
ALTER TABLE dead_letters ADD COLUMN publish_error text;
ALTER TABLE dead_letters ADD COLUMN relay_until timestamptz;
