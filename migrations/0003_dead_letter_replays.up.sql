-- `lockstep dlq replay` records the event_id its replay carries, so the replay's
-- outcome (processed_events, transition_audit) can be traced back to the dead letter.
ALTER TABLE dead_letters ADD COLUMN replay_event_id text;
CREATE INDEX dead_letters_created_at ON dead_letters (created_at);
