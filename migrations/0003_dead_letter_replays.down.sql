DROP INDEX IF EXISTS dead_letters_created_at;
ALTER TABLE dead_letters DROP COLUMN IF EXISTS replay_event_id;
