// The consumer's rebalance callbacks (on the consumer thread, inside poll()):
// an assignment opens the partitions in the offset book; a revocation lets
// their running events finish, commits their final positions and hands them
// over.
#pragma once

#include <atomic>
#include <functional>
#include <vector>

#include "commit/committer.hpp"
#include "lockstep/kafka.hpp"
#include "lockstep/metrics.hpp"
#include "schedule/scheduler.hpp"
#include "commit/offset_book.hpp"
#include "runtime/readiness.hpp"
#include "runtime/status.hpp"

namespace lockstep::runtime {

class Rebalance {
 public:
  // `shutdown_timeout_ms` bounds the wait for running events (at most 10 s);
  // `stop` is run()'s flag (it ends the wait); `poll_producer` serves outcome
  // delivery reports meanwhile. `board` learns the partitions held.
  Rebalance(int shutdown_timeout_ms, Metrics& metrics, KeyScheduler& sched, OffsetBook& book, Committer& committer,
            Readiness& readiness, StatusBoard& board, const std::atomic<bool>& stop,
            std::function<void(milliseconds)> poll_producer)
      : shutdown_timeout_ms_(shutdown_timeout_ms), metrics_(metrics), sched_(sched), book_(book),
        committer_(committer), readiness_(readiness), board_(board), stop_(stop),
        poll_producer_(std::move(poll_producer)) {}

  void on_assign(const std::vector<TopicPartition>& parts);
  // `lost`: the group gave the partitions away already (no commit possible).
  void on_revoke(const std::vector<TopicPartition>& parts, bool lost);

 private:
  int shutdown_timeout_ms_;
  Metrics& metrics_;
  KeyScheduler& sched_;
  OffsetBook& book_;
  Committer& committer_;
  Readiness& readiness_;
  StatusBoard& board_;
  const std::atomic<bool>& stop_;
  std::function<void(milliseconds)> poll_producer_;
};

}  // namespace lockstep::runtime
