// What operators read (the admin API, the console): one aggregate as stored, its
// audit trail page by page, and how many dead letters there are of each kind.
// Read only, no locks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lockstep/event.hpp"
#include "lockstep/store/dead_letter_admin.hpp"
#include "lockstep/store/outcome_store.hpp"

namespace lockstep {

// An aggregates row.
struct AggregateRecord {
  std::string type, id, state;
  int64_t version = 0;
  Json data;                              // object
  std::string created_at, updated_at;     // RFC 3339 UTC, millisecond precision (to_rfc3339 form)
  std::optional<std::string> updated_by;  // the event source ("bot", "api") that wrote it last
};

// One transition_audit row.
struct AuditRecord {
  int64_t id = 0;
  std::string event_id, transition;
  std::optional<std::string> from_state;  // nullopt: creation
  std::string to_state;
  int64_t from_version = 0, to_version = 0;
  std::optional<std::string> source, actor, occurred_at;
  std::optional<std::string> source_topic;
  std::optional<int32_t> source_partition;
  std::optional<int64_t> source_offset;
  std::string applied_at;  // RFC 3339 UTC
};

struct DeadLetterCount {
  std::string reason, status;
  int64_t count = 0;
};

class Inspector {
 public:
  virtual ~Inspector() = default;
  virtual std::optional<AggregateRecord> get_aggregate(const AggregateRef& ref) = 0;
  // Oldest first (by id): rows with id > after_id, at most `limit`.
  virtual std::vector<AuditRecord> audit_history(const AggregateRef& ref, std::optional<int64_t> after_id,
                                                 std::size_t limit) = 0;
  // Dead letters matching f (after_id and limit ignored), grouped by (reason, status), sorted by both.
  virtual std::vector<DeadLetterCount> count_dead_letters(const DeadLetterAdmin::DeadLetterFilter& f) = 0;
};

}  // namespace lockstep
