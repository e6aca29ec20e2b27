// A sample dead letter as a dead_letters row, for the tests of what is made of
// one (the dead-letter message, replays, drains).
#pragma once

#include "lockstep/store.hpp"
#include "lockstep/test/events.hpp"

namespace lockstep::test {

// Row 42: `e` dead-lettered version_conflict ("expected version 1, stored
// version 3", conflict {expected_version 1, actual_version 3}) from
// transitions.api partition 3 offset 1234 (timestamp 1763892000123), group
// "lockstep", first attempt, open since 2026-11-23T10:00:01.250Z; its Kafka key
// e.key() and the headers traceparent "00-abc" and "empty" (no value).
DeadLetterRecord conflict_dead_letter(const EventBuilder& e);

}  // namespace lockstep::test
