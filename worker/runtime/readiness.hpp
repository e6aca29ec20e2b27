// What /readyz answers, from the signals the worker's parts raise: the
// database answered last time and no call is stuck waiting on it, the broker
// answers and took the last dead letters and outcomes, the consumer holds an
// assignment, and the worker is not stopping.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "runtime/runtime_support.hpp"

namespace lockstep::runtime {

// An outcome or dead-letter message the broker has not acknowledged after this
// long makes the worker not ready (the producer keeps trying meanwhile).
inline constexpr int kPublishStallMs = 10000;
// The broker counts as not answering (not ready) after this long without an
// answer to the lag probe's watermark queries.
inline constexpr int kBrokerStallMs = 5000;

class Readiness {
 public:
  std::atomic<bool> db_ok{false};
  std::atomic<bool> db_stalled{false};  // a database call has been waiting longer than it should
  std::atomic<bool> relay_ok{true};     // the dead-letter relay's last publish reached the broker
  std::atomic<bool> outcome_ok{true};   // the last outcome message reached the broker
  std::atomic<bool> publish_stalled{false};  // an outcome or dead-letter message waits too long for its ack
  std::atomic<bool> joined{false};           // consumer holds an assignment (set on the consumer thread)
  std::atomic<bool> stopping{false};         // background loops: leave

  bool ready() const;
  // Why not ready, in words, one line per signal that says so ("database not
  // answering", "broker silent", "stopping", ...); empty when ready.
  std::vector<std::string> not_ready() const;

  // The broker answered a question. Readiness reads the time of the last
  // answer at any time, so a question still waiting for its answer counts as silence too.
  void heard_from_broker() { broker_answered_at_ = Clock::now().time_since_epoch().count(); }
  bool broker_silent() const;

  // Sets publish_stalled from the oldest outcome waiting for its ack and the
  // relay's publish under way (steady ms, 0: none), and says when it changes.
  void check_publish_stall(std::optional<Clock::time_point> oldest_outcome, int64_t relay_publishing_since_ms);

 private:
  std::atomic<Clock::rep> broker_answered_at_{Clock::now().time_since_epoch().count()};
};

}  // namespace lockstep::runtime
