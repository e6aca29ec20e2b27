ALTER TABLE aggregates RESET (fillfactor);
ALTER TABLE transition_audit
  DROP CONSTRAINT transition_audit_pkey,
  ADD CONSTRAINT transition_audit_pkey PRIMARY KEY (id),
  ADD CONSTRAINT transition_audit_aggregate_type_aggregate_id_to_version_key
    UNIQUE (aggregate_type, aggregate_id, to_version),
  ADD CONSTRAINT transition_audit_event_id_key UNIQUE (event_id);
