// Offset commits: the positions below every completed event in the offset
// book go to the group coordinator, synchronously and one commit at a time
// (the committer thread every 200 ms, a revocation's final commit, shutdown's
// final commit with its read-back, and the confirmation after close).
#pragma once

#include <atomic>
#include <mutex>
#include <set>
#include <vector>

#include "lockstep/config.hpp"
#include "lockstep/kafka.hpp"
#include "lockstep/metrics.hpp"
#include "commit/offset_book.hpp"
#include "runtime/runtime_support.hpp"

namespace lockstep::runtime {

// How long one synchronous offset commit waits for the coordinator's answer.
inline constexpr int kCommitWaitMs = 2000;

class Committer {
 public:
  // `stopping`: the worker's background loops are leaving; `stop`: run()'s flag
  // (a stop asked for ends a commit's retries, unless already stopping).
  Committer(const KafkaConfig& kafka, Metrics& metrics, Consumer& consumer, OffsetBook& book,
            const std::atomic<bool>& stopping, const std::atomic<bool>& stop)
      : kafka_(kafka), metrics_(metrics), consumer_(consumer), book_(book), stopping_(stopping), stop_(stop) {}

  // Commits every 200 ms off the consumer thread until the worker stops: a
  // synchronous commit waits for the group coordinator (up to kCommitWaitMs,
  // then it is left outstanding and the next one waits for it), and the
  // consumer must keep polling meanwhile (session, errors, fetching).
  // A kick after `stopping` is set also ends the wait for the coordinator, so
  // that the thread can be joined at once.
  void loop();
  void kick() {
    waker_.kick();
    consumer_.wake_commit_wait();
  }

  // Sends the positions below every completed event, synchronously: with at
  // most one commit outstanding, librdkafka never holds an older commit that
  // it could send after a newer one (it defers commits while it looks for the
  // coordinator, and sends deferred ones as late as close()). `all`: also
  // positions already sent; `only`: just these partitions. Returns false when
  // the commit failed. Waits at most `timeout`, for the lock and the
  // coordinator's answer together, or until `give_up` is set and kick() called.
  bool commit(bool all, const std::set<TopicPartition>* only, milliseconds timeout,
              const std::atomic<bool>* give_up = nullptr);

  // Synchronous commit, retried until it succeeds or the deadline passes: the
  // last commit before leaving must not be lost to a transient coordinator
  // error. `may_poll`: the consumer is polled between attempts (not inside a
  // rebalance callback).
  bool commit_until(Clock::time_point deadline, const std::set<TopicPartition>* only, bool may_poll);

  // Whether the group coordinator holds every position this worker would commit now.
  bool coordinator_has_positions(milliseconds timeout);

  // The final commit, read back: a commit librdkafka deferred while the
  // coordinator was away can land after a newer one and move the group's
  // position back, so commit again until the coordinator holds ours.
  bool final_commit(Clock::time_point deadline);

  // librdkafka can still send a commit it deferred earlier while it closes,
  // moving the group back behind events that have durable outcomes. Read the
  // group's positions back once more and move any that fell behind forward
  // again (never backward). Outside the group this commit is accepted only
  // while the group is empty, so it cannot overwrite a new owner's progress.
  void confirm_after_close(const std::vector<TopicPartition>& mine, Clock::time_point deadline);

 private:
  bool stop_asked() const { return stop_.load(); }

  const KafkaConfig& kafka_;
  Metrics& metrics_;
  Consumer& consumer_;
  OffsetBook& book_;
  const std::atomic<bool>& stopping_;
  const std::atomic<bool>& stop_;
  std::mutex mu_;  // one offset commit at a time (committer thread, rebalance, shutdown)
  Waker waker_;
};

}  // namespace lockstep::runtime
