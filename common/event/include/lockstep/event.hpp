// Event model (docs/event.md): parsing and validation of one raw Kafka message.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

namespace lockstep {

using Json = nlohmann::json;

// Where a message came from. `source` is the configured source name of the topic.
struct SourceRef {
  std::string topic;
  std::string source;
  int32_t partition = 0;
  int64_t offset = 0;
  int64_t timestamp_ms = -1;  // broker/producer timestamp, -1 when unknown
};

// A validated event (docs/event.md). Unknown fields are dropped from the typed view
// but `raw_json` keeps the original text for the audit and dead letters.
struct Event {
  std::string event_id;
  std::string aggregate_type;
  std::string aggregate_id;
  std::string transition;
  std::optional<int64_t> expected_version;
  std::optional<std::string> expected_state;
  std::optional<Json> payload;  // always an object when present
  std::optional<std::string> actor;
  std::optional<std::string> occurred_at;

  // "<aggregate_type>:<aggregate_id>"
  std::string key() const { return aggregate_type + ":" + aggregate_id; }
};

struct ParseLimits {
  std::size_t max_event_bytes = 1024 * 1024;
  int max_depth = 64;  // JSON nesting depth; deeper input is malformed
};

// Why an input is malformed: a human-readable detail naming the field.
struct Malformed {
  std::string detail;
  // The event_id when one could be read from the input (a string of 1..128
  // characters); used as the idempotency key of the dead letter.
  std::optional<std::string> event_id;
};

using ParseResult = std::variant<Event, Malformed>;

// Parses and validates one message value against the contract. `key` is the
// Kafka message key (nullopt when the message has none); it must equal
// aggregate_type:aggregate_id. Never throws for bad input.
ParseResult parse_event(std::string_view value, const std::optional<std::string>& key,
                        const ParseLimits& limits = {});

// Parses events one after another, as parse_event does and with the same
// results, keeping its buffers from one event to the next: the common
// well-formed event is read without building a whole JSON document (simdjson),
// and everything else is left to parse_event. One per thread.
class EventParser {
 public:
  EventParser();
  ~EventParser();
  EventParser(const EventParser&) = delete;
  EventParser& operator=(const EventParser&) = delete;

  ParseResult parse(std::string_view value, const std::optional<std::string>& key, const ParseLimits& limits = {});
  // How many events the quick path read (the rest went to parse_event).
  std::size_t quick_count() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Counts Unicode code points of a valid UTF-8 string.
std::size_t utf8_length(std::string_view s);

// True when `s` is an RFC 3339 date-time (e.g. 2024-05-01T12:00:00.5Z, +02:00 offsets).
bool is_rfc3339(std::string_view s);

// True when `s` matches [a-z][a-z0-9_]{0,63}.
bool is_valid_aggregate_type(std::string_view s);

}  // namespace lockstep
