-- transition_audit_aggregate repeated the UNIQUE (aggregate_type, aggregate_id,
-- to_version) constraint's own index: every audit row paid for two identical
-- index entries. The constraint's index serves the same look-ups.
DROP INDEX IF EXISTS transition_audit_aggregate;
