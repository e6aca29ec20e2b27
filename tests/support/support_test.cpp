// The test support library's own checks: the event builder writes what the
// contract's parser reads.
#include <gtest/gtest.h>

#include <variant>

#include "lockstep/event.hpp"
#include "lockstep/test/events.hpp"

namespace lockstep::test {
namespace {

TEST(EventBuilder, WritesTheMembersInTheOrderGiven) {
  EXPECT_EQ(event("e-1", "g/u1", "join").json(),
            R"({"event_id":"e-1","aggregate_type":"membership","aggregate_id":"g/u1","transition":"join"})");
  EXPECT_EQ(event("e-2", "g/u1", "edit").actor("bot").payload({{"k", 1}}).expected_version(3).json(),
            R"({"event_id":"e-2","aggregate_type":"membership","aggregate_id":"g/u1","transition":"edit",)"
            R"("actor":"bot","payload":{"k":1},"expected_version":3})");
  EXPECT_EQ(event_json("e-3", "a", "verify", R"(,"expected_version":"1")"),
            R"({"event_id":"e-3","aggregate_type":"membership","aggregate_id":"a","transition":"verify",)"
            R"("expected_version":"1"})");
  EXPECT_EQ(event("e-4", "a", "join").type("spaceship").key(), "spaceship:a");
  EXPECT_EQ(event("q\"1", "a", "join").json().substr(0, 19), R"({"event_id":"q\"1",)");
}

TEST(EventBuilder, WhatItBuildsIsAValidEvent) {
  const auto b = event("e-5", "guild-1/user-9", "suspend")
                     .actor("web")
                     .expected_version(1)
                     .expected_state("active")
                     .occurred_at("2024-05-01T12:00:00Z")
                     .payload({{"why", "spam"}});
  const auto parsed = parse_event(b.json(), b.key());
  ASSERT_TRUE(std::holds_alternative<Event>(parsed)) << std::get<Malformed>(parsed).detail;
  const auto& e = std::get<Event>(parsed);
  EXPECT_EQ(e.event_id, "e-5");
  EXPECT_EQ(e.key(), "membership:guild-1/user-9");
  EXPECT_EQ(e.transition, "suspend");
  EXPECT_EQ(e.actor, "web");
  EXPECT_EQ(e.expected_version, 1);
  EXPECT_EQ(e.expected_state, "active");
  EXPECT_EQ(e.occurred_at, "2024-05-01T12:00:00Z");
  EXPECT_EQ(e.payload, Json({{"why", "spam"}}));
}

}  // namespace
}  // namespace lockstep::test
