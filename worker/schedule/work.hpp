// One consumed message on its way to an outcome.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lockstep/event.hpp"
#include "lockstep/event_keys.hpp"
#include "lockstep/header.hpp"

namespace lockstep {

struct Work {
  SourceRef src;
  std::optional<std::string> kafka_key;
  std::string value;             // raw bytes as consumed
  std::vector<Header> headers;   // the message's own headers
  ParseResult parsed;
  std::string lane_key;          // serialisation key: aggregate key, or a per-partition key when unparsable
  std::chrono::steady_clock::time_point consumed_at;
  uint64_t generation = 0;       // assignment generation of its partition
  uint64_t arrival = 0;          // the scheduler's count of events pushed before it
  int attempts = 0;              // compare-and-set attempts lost so far
  bool exhausted = false;        // lost max_attempts times: dead-letter on the next pass
  int64_t last_read_version = -1;  // version the last lost CAS expected (for the conflict log)

  const Event* event() const { return std::get_if<Event>(&parsed); }
};

using WorkPtr = std::unique_ptr<Work>;

}  // namespace lockstep
