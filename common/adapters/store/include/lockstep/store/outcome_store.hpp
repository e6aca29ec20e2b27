// The store's hot path (docs/event.md "Outcomes", docs/database.md): the outcomes already recorded, the
// aggregates as they are, and one transaction per batch of decided events.
// What the engine needs, and all it needs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "lockstep/event.hpp"
#include "lockstep/header.hpp"
#include "lockstep/machine.hpp"
#include "lockstep/store/types.hpp"

namespace lockstep {

struct PriorOutcome {
  std::string outcome;                 // "applied" | "dead_lettered"
  std::optional<std::string> reason;
  std::optional<int64_t> version;
  std::optional<std::string> state;
};

struct AggregateRef {
  std::string type;
  std::string id;
};

struct AppliedWrite {
  std::string event_id;
  std::string aggregate_type;
  std::string aggregate_id;
  std::string transition;
  std::optional<std::string> from_state;  // nullopt on creation
  std::string to_state;
  int64_t read_version = 0;               // CAS: row must still be at this version (0: must not exist)
  Json new_data;
  std::optional<std::string> actor;
  std::optional<std::string> occurred_at;
  SourceRef src;
};

struct DeadLetterWrite {
  std::string event_id;
  DeadReason reason = DeadReason::malformed;
  std::string detail;
  std::optional<std::string> aggregate_type;
  std::optional<std::string> aggregate_id;
  std::optional<Json> event;  // the original event; nullopt when malformed
  std::string raw;            // the raw message value, always kept
  std::optional<std::string> kafka_key;
  std::vector<Header> headers;
  std::optional<Json> conflict;  // {expected_version, actual_version, ...} when an aggregate exists
  SourceRef src;
  std::string consumer_group;
  int attempts = 0;
  std::optional<int64_t> version;  // stored version seen at the decision
  std::optional<std::string> state;
};

struct CommitResult {
  std::vector<WriteStatus> applied;  // one per AppliedWrite, same order
  std::vector<WriteStatus> dead;     // one per DeadLetterWrite (never cas_lost)
};

class OutcomeStore {
 public:
  virtual ~OutcomeStore() = default;

  // Outcomes already recorded for these event ids.
  virtual std::unordered_map<std::string, PriorOutcome> find_outcomes(const std::vector<std::string>& event_ids) = 0;
  // Current aggregates, one Snapshot per ref in the same order; read without locks.
  virtual std::vector<Snapshot> read(const std::vector<AggregateRef>& refs) = 0;
  // Writes all of it in ONE transaction. Each applied write is a compare-and-set
  // on (read_version, from_state) and carries its audit and processed_events rows;
  // each dead letter carries its processed_events row and its outbox row. Per
  // write: written, duplicate (the event_id got an outcome meanwhile), or cas_lost.
  // Throws TransientStoreError / DataStoreError; then nothing was written.
  virtual CommitResult commit(const std::vector<AppliedWrite>& applied,
                              const std::vector<DeadLetterWrite>& dead) = 0;
};

}  // namespace lockstep
