// The keys a consumed message is known by before it has an outcome: the lane
// that serialises it and the idempotency key its outcome is recorded under.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "lockstep/event.hpp"

namespace lockstep {

// The lane key of a parsed message (see Work::lane_key).
std::string lane_key_for(const ParseResult& parsed, const SourceRef& src);

// The idempotency key of a consumed message: its event_id, the event_id a
// malformed message still carries, or
// "malformed:<topic>:<partition>:<offset>:<digest>", where the digest (16 hex
// digits, FNV-1a 64) covers the message's timestamp, key and value.
std::string idempotency_key_for(const ParseResult& parsed, const SourceRef& src, std::string_view value,
                                const std::optional<std::string>& key);

}  // namespace lockstep
