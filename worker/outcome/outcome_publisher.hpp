// One outcome message per event (docs/event.md): the event counts as done, and
// its offset may be committed, only once the broker has the message. When the
// publish fails the event goes round again; its outcome is durable by now, so
// it comes back as a duplicate whose message carries that first outcome.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "outcome/completion.hpp"
#include "outcome/messages.hpp"
#include "lockstep/kafka.hpp"
#include "lockstep/metrics.hpp"
#include "runtime/runtime_support.hpp"

namespace lockstep::runtime {

class OutcomePublisher {
 public:
  // No `producer` or no `topic` (kafka.outcome_topic): nothing is published.
  // `outcome_ok` says whether the last outcome message reached the broker.
  OutcomePublisher(Producer* producer, std::string topic, Completion& completion, Metrics& metrics,
                   std::atomic<bool>& outcome_ok)
      : producer_(producer), topic_(std::move(topic)), completion_(completion), metrics_(metrics),
        outcome_ok_(outcome_ok) {}

  bool enabled() const { return producer_ != nullptr && !topic_.empty(); }
  // Publishes the event's outcome; the delivery report completes the event
  // (or sends it round again). Only when enabled().
  void publish(WorkPtr w, const ItemResult& r);
  // Serves delivery reports (they complete events); without publishing, just waits.
  void poll(milliseconds timeout);
  // When the oldest message still waiting for its delivery report was sent.
  std::optional<Clock::time_point> oldest_pending() const;

 private:
  void delivered(WorkPtr w, uint64_t seq, const Delivery& d);

  Producer* producer_;
  std::string topic_;
  Completion& completion_;
  Metrics& metrics_;
  std::atomic<bool>& outcome_ok_;
  mutable std::mutex mu_;                           // pending_
  std::map<uint64_t, Clock::time_point> pending_;  // sent, not yet acknowledged (by send order)
  uint64_t next_seq_ = 0;
};

}  // namespace lockstep::runtime
