// What more than one role of the store speaks: its two errors, the status of a
// write, and a dead_letters row as stored.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "lockstep/event.hpp"
#include "lockstep/header.hpp"

namespace lockstep {

// The database is unreachable or the transaction failed for a reason that is not
// the event's (connection lost, shutdown, deadlock, serialization failure):
// nothing was written; retry the same work later.
class TransientStoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The database rejected the data itself (e.g. a value it cannot store): retrying
// the same input cannot succeed. Nothing was written.
class DataStoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class WriteStatus { written, duplicate, cas_lost };

// A dead_letters row as stored.
struct DeadLetterRecord {
  int64_t id = 0;
  std::string event_id;
  std::string reason;
  std::string detail;
  std::optional<std::string> aggregate_type;
  std::optional<std::string> aggregate_id;
  std::optional<Json> event;
  std::string raw;
  std::optional<std::string> kafka_key;
  std::vector<Header> headers;
  std::optional<Json> conflict;
  SourceRef src;
  std::string consumer_group;
  int attempts = 0;
  std::string status;
  std::string created_at;  // RFC 3339 UTC
  std::optional<std::string> resolved_at;
  std::optional<std::string> resolved_by;
  std::optional<std::string> note;
  std::optional<std::string> replay_event_id;  // status replayed: the event_id its replay carries
};

}  // namespace lockstep
