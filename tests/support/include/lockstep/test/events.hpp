// Events as the contract's JSON (common/event's parse_event reads them), for
// the tests: one builder instead of a string template per test file.
//
//   event("e-1", "guild-1/user-9", "join").actor("bot").expected_version(1).json()
//   -> {"event_id":"e-1","aggregate_type":"membership","aggregate_id":"guild-1/user-9",
//       "transition":"join","actor":"bot","expected_version":1}
//
// The members come in the order they are given (event_id, aggregate_type,
// aggregate_id and transition first), so a test knows the exact bytes it sends.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lockstep/event.hpp"

namespace lockstep::test {

class EventBuilder {
 public:
  EventBuilder(std::string event_id, std::string aggregate_id, std::string transition);

  EventBuilder& type(std::string aggregate_type);  // "membership" unless told
  EventBuilder& actor(const std::string& actor);
  EventBuilder& expected_version(std::int64_t version);
  EventBuilder& expected_state(const std::string& state);
  EventBuilder& occurred_at(const std::string& rfc3339);
  EventBuilder& payload(const Json& object);
  // Any member as it is written: a JSON value (also one of the wrong type, for
  // tests of what the parser refuses).
  EventBuilder& member(const std::string& name, const std::string& json_value);
  // Text appended after the members as it is (",\"k\":v", or nothing).
  EventBuilder& raw(const std::string& members);

  std::string json() const;
  operator std::string() const { return json(); }  // NOLINT: reads as a value where a string is wanted
  // The Kafka key the worker requires: aggregate_type:aggregate_id.
  std::string key() const { return type_ + ":" + aggregate_id_; }

 private:
  std::string event_id_;
  std::string type_ = "membership";
  std::string aggregate_id_;
  std::string transition_;
  std::string members_;  // ,"name":value ... in the order given
};

inline EventBuilder event(std::string event_id, std::string aggregate_id, std::string transition) {
  return EventBuilder(std::move(event_id), std::move(aggregate_id), std::move(transition));
}

// The plain form: the event's JSON with `extra` members appended as they are
// (",\"expected_version\":1").
std::string event_json(const std::string& event_id, const std::string& aggregate_id, const std::string& transition,
                       const std::string& extra = "");

}  // namespace lockstep::test
