-- Lockstep schema v1 (docs/database.md).
CREATE TABLE aggregates (
  aggregate_type text        NOT NULL,
  aggregate_id   text        NOT NULL,
  state          text        NOT NULL,
  version        bigint      NOT NULL CHECK (version >= 1),
  data           jsonb       NOT NULL DEFAULT '{}'::jsonb,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  updated_by     text,
  PRIMARY KEY (aggregate_type, aggregate_id)
);

CREATE TABLE transition_audit (
  id               bigserial   PRIMARY KEY,
  aggregate_type   text        NOT NULL,
  aggregate_id     text        NOT NULL,
  event_id         text        NOT NULL UNIQUE,
  transition       text        NOT NULL,
  from_state       text,
  to_state         text        NOT NULL,
  from_version     bigint      NOT NULL,
  to_version       bigint      NOT NULL,
  source           text,
  actor            text,
  source_topic     text,
  source_partition integer,
  source_offset    bigint,
  occurred_at      text,
  applied_at       timestamptz NOT NULL DEFAULT now(),
  -- one audit row per version of an aggregate: versions cannot repeat
  UNIQUE (aggregate_type, aggregate_id, to_version),
  CHECK (to_version = from_version + 1)
);

CREATE TABLE processed_events (
  event_id       text        PRIMARY KEY,
  outcome        text        NOT NULL CHECK (outcome IN ('applied', 'dead_lettered')),
  reason         text,
  aggregate_type text,
  aggregate_id   text,
  version        bigint,
  state          text,
  processed_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE dead_letters (
  id               bigserial   PRIMARY KEY,
  event_id         text        NOT NULL UNIQUE,
  reason           text        NOT NULL,
  aggregate_type   text,
  aggregate_id     text,
  detail           text        NOT NULL DEFAULT '',
  event            jsonb,
  raw              bytea       NOT NULL,
  kafka_key        bytea,
  headers          jsonb       NOT NULL DEFAULT '[]'::jsonb,
  conflict         jsonb,
  source_topic     text,
  source_partition integer,
  source_offset    bigint,
  source_timestamp bigint,
  consumer_group   text,
  attempts         integer     NOT NULL DEFAULT 0,
  status           text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'replayed', 'discarded')),
  created_at       timestamptz NOT NULL DEFAULT now(),
  resolved_at      timestamptz,
  resolved_by      text,
  note             text,
  published_at     timestamptz
);

CREATE INDEX dead_letters_unpublished ON dead_letters (id) WHERE published_at IS NULL;
CREATE INDEX dead_letters_status ON dead_letters (status, created_at);
CREATE INDEX transition_audit_aggregate ON transition_audit (aggregate_type, aggregate_id, to_version);
