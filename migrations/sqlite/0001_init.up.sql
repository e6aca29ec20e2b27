-- Lockstep schema v1 (docs/database.md), SQLite dialect of migrations/0001_init.up.sql
-- for the embedded store. Same tables, columns, keys and checks; jsonb is TEXT
-- holding JSON (checked by json_valid), bytea is BLOB, timestamps are TEXT in one
-- canonical UTC form, "YYYY-MM-DDTHH:MM:SS.mmmZ", so they sort as they compare.
-- STRICT tables reject values of the wrong type instead of converting them.
CREATE TABLE aggregates (
  aggregate_type TEXT    NOT NULL,
  aggregate_id   TEXT    NOT NULL,
  state          TEXT    NOT NULL,
  version        INTEGER NOT NULL CHECK (version >= 1),
  data           TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(data)),
  created_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  updated_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  updated_by     TEXT,
  PRIMARY KEY (aggregate_type, aggregate_id)
) STRICT;

CREATE TABLE transition_audit (
  id               INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused, like bigserial
  aggregate_type   TEXT    NOT NULL,
  aggregate_id     TEXT    NOT NULL,
  event_id         TEXT    NOT NULL UNIQUE,
  transition       TEXT    NOT NULL,
  from_state       TEXT,
  to_state         TEXT    NOT NULL,
  from_version     INTEGER NOT NULL,
  to_version       INTEGER NOT NULL,
  source           TEXT,
  actor            TEXT,
  source_topic     TEXT,
  source_partition INTEGER,
  source_offset    INTEGER,
  occurred_at      TEXT,
  applied_at       TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  -- one audit row per version of an aggregate: versions cannot repeat
  UNIQUE (aggregate_type, aggregate_id, to_version),
  CHECK (to_version = from_version + 1)
) STRICT;

CREATE TABLE processed_events (
  event_id       TEXT    PRIMARY KEY,
  outcome        TEXT    NOT NULL CHECK (outcome IN ('applied', 'dead_lettered')),
  reason         TEXT,
  aggregate_type TEXT,
  aggregate_id   TEXT,
  version        INTEGER,
  state          TEXT,
  processed_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

CREATE TABLE dead_letters (
  id               INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused, like bigserial
  event_id         TEXT    NOT NULL UNIQUE,
  reason           TEXT    NOT NULL,
  aggregate_type   TEXT,
  aggregate_id     TEXT,
  detail           TEXT    NOT NULL DEFAULT '',
  event            TEXT    CHECK (event IS NULL OR json_valid(event)),
  raw              BLOB    NOT NULL,
  kafka_key        BLOB,
  headers          TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(headers)),
  conflict         TEXT    CHECK (conflict IS NULL OR json_valid(conflict)),
  source_topic     TEXT,
  source_partition INTEGER,
  source_offset    INTEGER,
  source_timestamp INTEGER,
  consumer_group   TEXT,
  attempts         INTEGER NOT NULL DEFAULT 0,
  status           TEXT    NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'replayed', 'discarded')),
  created_at       TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  resolved_at      TEXT,
  resolved_by      TEXT,
  note             TEXT,
  published_at     TEXT,
  -- SQLite only: the outbox relay's lease on an unpublished row (SQLite has no
  -- row locks, so no FOR UPDATE SKIP LOCKED): which relay holds it, until when.
  relay_owner      TEXT,
  relay_until      TEXT
) STRICT;

CREATE INDEX dead_letters_unpublished ON dead_letters (id) WHERE published_at IS NULL;
CREATE INDEX dead_letters_status ON dead_letters (status, created_at);
CREATE INDEX transition_audit_aggregate ON transition_audit (aggregate_type, aggregate_id, to_version);
