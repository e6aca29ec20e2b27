// Dead-letter operations (docs/cli.md, `lockstep dlq`): what a replay publishes,
// how a dead-letter topic message is read back into a row (drain), and the time
// filters operators type. Pure functions; the command wires them to a Store and
// a Producer.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <variant>

#include "lockstep/kafka.hpp"
#include "lockstep/machine.hpp"
#include "lockstep/store.hpp"

namespace lockstep::dlq {

// How a replay treats the event's optimistic check (version_conflict only).
enum class VersionMode {
  keep,    // unchanged: the stored version must still equal expected_version
  rebase,  // "overwrite": expected_version (and expected_state, when given) := the current ones
  drop,    // no version check: expected_version removed (expected_state kept)
};

// The event_id a replay of dead letter `dead_letter_id` carries: the original id
// plus "~replay-<id>", the original part shortened (keeping its start) when the
// whole would exceed the contract's 128 characters. Deterministic, so a replay
// published twice (a crash before its status was recorded) is a duplicate the
// second time, and distinct per dead letter, so a replay is never mistaken for
// the original (whose outcome, dead_lettered, stands).
std::string replay_event_id(const std::string& event_id, int64_t dead_letter_id);

// Why dead letter `d` cannot be replayed with `mode`, or nullopt when it can.
std::optional<std::string> replay_refusal(const DeadLetterRecord& d, VersionMode mode);

// The message that replays `d` to `topic` (normally d.src.topic): the original
// event with event_id := replay_event_id(), "replay_of" := the original event_id,
// the optimistic check adjusted per `mode` against `current`; the original key
// and headers, plus lockstep.replay.of / .dead_letter_id / .by headers.
// Precondition: replay_refusal(d, mode) is nullopt.
OutMessage replay_message(const DeadLetterRecord& d, VersionMode mode, const Snapshot& current,
                          const std::string& topic, const std::string& by);

// A dead-letter topic message (docs/operations.md "The dead-letter record") as a row to import, or why it is not one.
std::variant<DeadLetterRecord, std::string> parse_dead_letter_message(const Message& m);

// An operator's time: RFC 3339 (`2026-11-23T10:00:00Z`, `...+01:00`, fractions
// allowed), a date (`2026-11-23`, midnight UTC) or an age before `now` (`90s`,
// `15m`, `2h`, `7d`). Returns the canonical UTC form the store compares
// ("YYYY-MM-DDTHH:MM:SS.mmmZ"), or nullopt when it is none of these.
std::optional<std::string> parse_time(const std::string& text, std::chrono::system_clock::time_point now);

}  // namespace lockstep::dlq
