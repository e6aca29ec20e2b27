-- The PostgreSQL migration 0005 drops transition_audit's own unique index on
-- event_id and makes (aggregate_type, aggregate_id, to_version) its primary key,
-- to write fewer index entries per event. SQLite cannot drop a column constraint
-- without rebuilding the table, and the embedded store is not where write volume
-- matters: its schema stays as it is; this keeps the numbering of both alike.
SELECT 1;
