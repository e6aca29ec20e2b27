// Whether two parse results are the same: the same variant, and the same
// fields (the payload also as JSON text) or the same detail and event_id.
#pragma once

#include <gtest/gtest.h>

#include <variant>

#include "lockstep/event.hpp"

namespace lockstep::test {

inline ::testing::AssertionResult same_result(const ParseResult& a, const ParseResult& b) {
  if (a.index() != b.index()) {
    const auto* m = std::get_if<Malformed>(&a);
    return ::testing::AssertionFailure() << "one is an Event, the other Malformed: "
                                         << (m ? m->detail : std::get<Malformed>(b).detail);
  }
  if (const auto* ma = std::get_if<Malformed>(&a)) {
    const auto& mb = std::get<Malformed>(b);
    if (ma->detail != mb.detail || ma->event_id != mb.event_id)
      return ::testing::AssertionFailure() << "'" << ma->detail << "' vs '" << mb.detail << "'";
    return ::testing::AssertionSuccess();
  }
  const auto& ea = std::get<Event>(a);
  const auto& eb = std::get<Event>(b);
  const auto text = [](const Event& e) { return e.payload ? e.payload->dump() : std::string("(none)"); };
  if (ea.event_id != eb.event_id || ea.aggregate_type != eb.aggregate_type || ea.aggregate_id != eb.aggregate_id ||
      ea.transition != eb.transition || ea.expected_version != eb.expected_version ||
      ea.expected_state != eb.expected_state || ea.actor != eb.actor || ea.occurred_at != eb.occurred_at ||
      ea.payload != eb.payload || text(ea) != text(eb))
    return ::testing::AssertionFailure() << "the events differ (payloads " << text(ea) << " and " << text(eb) << ")";
  return ::testing::AssertionSuccess();
}

}  // namespace lockstep::test
