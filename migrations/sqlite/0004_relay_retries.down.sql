ALTER TABLE dead_letters DROP COLUMN publish_error;
ALTER TABLE dead_letters DROP COLUMN publish_attempts;
