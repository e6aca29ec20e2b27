// Idempotency keys of consumed messages.
#include <gtest/gtest.h>

#include "lockstep/event_keys.hpp"

namespace lockstep {
namespace {

std::string key_of(const std::string& value, std::optional<std::string> key, int64_t offset, int64_t ts) {
  const SourceRef src{"transitions.bot", "bot", 3, offset, ts};
  return idempotency_key_for(parse_event(value, key), src, value, key);
}

TEST(IdempotencyKey, EventIdWhenThereIsOne) {
  const std::string v = R"({"event_id":"e-1","aggregate_type":"membership","aggregate_id":"a","transition":"join"})";
  EXPECT_EQ(key_of(v, "membership:a", 7, 1000), "e-1");
  // A malformed message that still carries a readable event_id keeps it (key mismatch).
  EXPECT_EQ(key_of(v, "membership:other", 7, 1000), "e-1");
}

TEST(IdempotencyKey, UnparsableMessageIsKnownByWhereItWasReadAndWhatItHolds) {
  const auto id = key_of("{not json", "k", 42, 1700000000000);
  EXPECT_EQ(id.rfind("malformed:transitions.bot:3:42:", 0), 0u) << id;
  EXPECT_EQ(id.size(), std::string("malformed:transitions.bot:3:42:").size() + 16);
  // The same message read again (a re-read after a crash) gets the same id.
  EXPECT_EQ(key_of("{not json", "k", 42, 1700000000000), id);
}

// Regression: a topic deleted and created again reuses offsets; a new malformed
// message at a reused offset used to get the old message's id and be taken for
// its duplicate (no dead letter, no outcome of its own).
TEST(IdempotencyKey, NewMessageAtAReusedOffsetGetsANewId) {
  const auto old_id = key_of("{not json", "k", 42, 1700000000000);
  EXPECT_NE(key_of("{not json", "k", 42, 1700000999000), old_id) << "same bytes, later timestamp";
  EXPECT_NE(key_of("{other junk", "k", 42, 1700000000000), old_id) << "other bytes";
  EXPECT_NE(key_of("{not json", "k2", 42, 1700000000000), old_id) << "other key";
  EXPECT_NE(key_of("{not json", std::nullopt, 42, 1700000000000), key_of("{not json", "", 42, 1700000000000))
      << "no key vs empty key";
}

}  // namespace
}  // namespace lockstep
