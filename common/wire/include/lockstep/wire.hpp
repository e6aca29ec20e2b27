// The messages the worker publishes, written and read in one place: dead letters
// (docs/operations.md "The dead-letter record") on the dead-letter topic and outcomes (docs/event.md "Outcomes") on the
// outcome topic. The worker writes them; `lockstep dlq drain`, `lockstep emit
// --wait` and the invariant checker read them back.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "lockstep/header.hpp"
#include "lockstep/kafka.hpp"
#include "lockstep/store.hpp"

namespace lockstep::wire {

// Names of the headers Lockstep adds to a message.
namespace header {
inline constexpr const char* prefix = "lockstep.";  // every name below starts with it
// On every dead-letter message (docs/operations.md "The dead-letter record").
inline constexpr const char* reason = "lockstep.reason";
inline constexpr const char* event_id = "lockstep.event_id";
inline constexpr const char* source_topic = "lockstep.source.topic";
inline constexpr const char* source_partition = "lockstep.source.partition";
inline constexpr const char* source_offset = "lockstep.source.offset";
inline constexpr const char* source_timestamp = "lockstep.source.timestamp";
inline constexpr const char* consumer_group = "lockstep.consumer.group";
inline constexpr const char* attempts = "lockstep.attempts";
// The dead-letter headers, in the order a dead-letter message carries them.
inline constexpr std::array<const char*, 8> dead_letter = {
    reason, event_id, source_topic, source_partition, source_offset, source_timestamp, consumer_group, attempts};
// On a replayed event (`lockstep dlq replay`): which dead letter it replays, and who asked.
inline constexpr const char* replay_prefix = "lockstep.replay.";
inline constexpr const char* replay_of = "lockstep.replay.of";
inline constexpr const char* replay_dead_letter_id = "lockstep.replay.dead_letter_id";
inline constexpr const char* replay_by = "lockstep.replay.by";
}  // namespace header

// The value of the first header named `name`: nullopt when there is none (or it
// has a null value).
std::optional<std::string> header_value(const std::vector<Header>& headers, std::string_view name);
// A header of a replay (lockstep.replay.*), which an event carries on like its own.
bool is_replay_header(std::string_view name);

// librdkafka's default message.max.bytes: what a worker's message must fit
// unless kafka.properties sets another value.
inline constexpr std::size_t kDefaultMaxMessageBytes = 1000000;
// The message.max.bytes of these librdkafka properties.
std::size_t max_message_bytes(const KafkaProps& props);

// ---- Dead letters (docs/operations.md "The dead-letter record") ----

// Builds the dead-letter topic message of a stored dead letter: the record's key,
// the event's own headers followed by header::dead_letter, and the JSON body.
// When the whole event would make it larger than `max_bytes`, the body carries
// "trimmed": true and "original_bytes" instead of the event (and, if still too
// large, the event's own headers are left out, counted in "headers_trimmed").
OutMessage dead_letter_message(const DeadLetterRecord& d, const std::string& topic,
                               std::size_t max_bytes = kDefaultMaxMessageBytes);

// A dead-letter message read back.
struct DeadLetterMessage {
  // What the message carries: event_id, reason, detail, event (and its
  // aggregate_type/aggregate_id) or raw bytes, source, attempts, conflict,
  // created_at (the body's dead_lettered_at, as written), the key, the event's
  // own headers (every header not Lockstep's, plus replay headers), and the
  // source timestamp and consumer group from the headers. id, status and the
  // resolution fields stay empty: they belong to a table, not to the message.
  DeadLetterRecord record;
  bool trimmed = false;                   // the event was left out (too large); record.raw is empty
  std::optional<int64_t> original_bytes;  // trimmed: the event's size
  int64_t headers_trimmed = 0;            // how many of the event's own headers were left out
};

// Reads a dead-letter topic message, or says why it is not one: the value must
// be a JSON object with an event_id, a contract reason and the event (or
// raw_base64, or "trimmed"); the lockstep.event_id and lockstep.reason headers
// must be there.
std::variant<DeadLetterMessage, std::string> parse_dead_letter(const Message& m);

// ---- Outcomes (docs/event.md "Outcomes") ----

struct OutcomeMessage {
  std::string event_id;
  std::optional<std::string> aggregate_type;  // null when the input did not parse
  std::optional<std::string> aggregate_id;
  std::string outcome;                        // applied | duplicate | dead_lettered
  std::optional<std::string> reason;          // dead_lettered
  std::optional<int64_t> version;             // applied: the new version; else the stored one when known
  std::optional<std::string> state;
  // duplicate: the event_id's first outcome, when known (so a producer that
  // re-sends, or a restart after a crash, still learns what became of the event)
  std::optional<PriorOutcome> first;
};

// The JSON body of an outcome message.
Json outcome_json(const OutcomeMessage& o);
// The outcome topic message: `key` is the event's Kafka key.
OutMessage outcome_message(const OutcomeMessage& o, const std::optional<std::string>& key,
                           const std::string& topic);
// Reads an outcome message's value, or says why it is not one (not a JSON
// object, no string event_id or outcome, a field of the wrong type).
std::variant<OutcomeMessage, std::string> parse_outcome(std::string_view value);

}  // namespace lockstep::wire
