ALTER TABLE dead_letters DROP COLUMN IF EXISTS relay_until;
ALTER TABLE dead_letters DROP COLUMN IF EXISTS publish_error;
ALTER TABLE dead_letters DROP COLUMN IF EXISTS publish_attempts;
