// Says which configured topics the cluster does not have: at start-up, and
// every 30 s until each exists (then says that too). Without it a worker
// subscribed to a missing topic waits without a word: librdkafka only
// retries its metadata. The cluster not answering is the lag probe's to
// report, not this check's.
#pragma once

#include <atomic>
#include <mutex>
#include <set>
#include <string>

#include "lockstep/config.hpp"
#include "runtime/runtime_support.hpp"

namespace lockstep::runtime {

class TopicWatch {
 public:
  TopicWatch(const KafkaConfig& kafka, const std::atomic<bool>& stopping, milliseconds interval = milliseconds(30000))
      : kafka_(kafka), stopping_(stopping), interval_(interval) {}

  // Checks every `interval` until every configured topic exists or the worker stops.
  void loop();
  void kick() { waker_.kick(); }
  // Leaves the loop without another check (at the start of a shutdown).
  void leave() {
    leaving_ = true;
    waker_.kick();
  }
  // The topics found missing and not yet found again.
  std::set<std::string> missing() const;

 private:
  const KafkaConfig& kafka_;
  const std::atomic<bool>& stopping_;
  milliseconds interval_;
  Waker waker_;
  mutable std::mutex mu_;         // reported_
  std::set<std::string> reported_;  // missing, and said so
  std::atomic<bool> leaving_{false};
};

}  // namespace lockstep::runtime
