// End-to-end helpers: `lockstep run` as a real process, on `lockstep broker`
// (a development broker process) or the real Kafka node (TestKafka). The
// fixture, the config and the worker process are lockstep/test/end_to_end.hpp.
#pragma once

#include <string>
#include <vector>

#include "lockstep/kafka.hpp"
#include "lockstep/test/end_to_end.hpp"

namespace lockstep::test {

// Events for `keys` aggregates from both topics (lifecycles that race), as messages.
struct Planned {
  std::vector<OutMessage> messages;
  std::vector<std::string> event_ids;  // distinct
};
Planned plan_race(const TestKafka& kafka, int keys, int seed);

}  // namespace lockstep::test
