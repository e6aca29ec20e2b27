// When the consumer stops fetching and when it starts again: backpressure
// (too much in flight) and infrastructure faults. Pure: no I/O, no clock.
#pragma once

#include <cstddef>
#include <string>

namespace lockstep::runtime {

struct FetchSignals {
  std::size_t inflight = 0;      // events owned by the scheduler
  std::size_t max_inflight = 0;  // limits.max_inflight
  bool db_ok = true;             // the database answered last time
  bool db_stalled = false;       // a database call waits too long
  bool relay_ok = true;          // the dead-letter relay's last publish reached the broker
  bool outcome_ok = true;        // the last outcome message reached the broker
  bool publish_stalled = false;  // an outcome or dead-letter message waits too long for its ack
};

struct FetchVerdict {
  bool want_pause = false;
  bool want_resume = false;
  std::string reason;  // "backpressure" | "database" | "broker" | the current one | ""
};

// Stop fetching while too much is in flight or the database is down; resume
// when it drains (below half the limit) / recovers. An infrastructure fault
// stops fetching while events wait for it (the database, an outcome message)
// or while dead letters cannot be published. `paused`/`pause_reason`: the
// current state, whose reason stays while nothing else applies.
FetchVerdict fetch_verdict(const FetchSignals& s, bool paused, const std::string& pause_reason);

}  // namespace lockstep::runtime
