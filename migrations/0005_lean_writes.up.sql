-- Fewer index entries and more HOT updates per applied event (docs/database.md,
-- "What each event writes").
--
-- transition_audit: an audit row is written only in the transaction that
-- claims its event_id in processed_events (whose primary key is event_id), so a
-- second unique index on transition_audit.event_id guarded nothing new and cost
-- every applied event a random b-tree insert. `lockstep verify` still checks
-- that each event_id has exactly one audit row.
ALTER TABLE transition_audit DROP CONSTRAINT IF EXISTS transition_audit_event_id_key;
-- The natural key (aggregate_type, aggregate_id, to_version), already unique,
-- becomes the primary key in place of `id`, which keeps its sequence (order,
-- cursors) without an index of its own. One statement: on a large audit table
-- this builds the key's index once, under an exclusive lock (docs/operations.md).
ALTER TABLE transition_audit
  DROP CONSTRAINT transition_audit_pkey,
  DROP CONSTRAINT transition_audit_aggregate_type_aggregate_id_to_version_key,
  ADD CONSTRAINT transition_audit_pkey PRIMARY KEY (aggregate_type, aggregate_id, to_version);
-- aggregates: room on each page for the next version of its rows, so that a
-- compare-and-set (which changes no indexed column) is a HOT update that adds
-- no index entry. Applies to pages written from now on.
ALTER TABLE aggregates SET (fillfactor = 70);
