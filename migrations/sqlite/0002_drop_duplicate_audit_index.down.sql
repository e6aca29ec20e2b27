CREATE INDEX IF NOT EXISTS transition_audit_aggregate ON transition_audit (aggregate_type, aggregate_id, to_version);
