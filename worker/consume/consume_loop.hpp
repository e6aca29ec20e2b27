// The consumer thread's loop: polls the consumer, turns messages into work
// for the scheduler (parse, track in the offset book), and pauses/resumes
// fetching for backpressure and faults (lockstep_partition_paused says why).
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "consume/backpressure.hpp"
#include "lockstep/config.hpp"
#include "lockstep/event.hpp"
#include "lockstep/kafka.hpp"
#include "lockstep/metrics.hpp"
#include "schedule/scheduler.hpp"
#include "commit/offset_book.hpp"
#include "runtime/readiness.hpp"
#include "runtime/status.hpp"
#include "runtime/runtime_support.hpp"

namespace lockstep::runtime {

class ConsumeLoop {
 public:
  // `poll_producer` serves outcome delivery reports; `every_second` runs about once a second;
  // `board` learns which partitions are paused and why.
  ConsumeLoop(const Config& cfg, Metrics& metrics, Consumer& consumer, KeyScheduler& sched, OffsetBook& book,
              const Readiness& readiness, StatusBoard& board, std::function<void(milliseconds)> poll_producer,
              std::function<void()> every_second)
      : cfg_(cfg), metrics_(metrics), consumer_(consumer), sched_(sched), book_(book), readiness_(readiness),
        board_(board), poll_producer_(std::move(poll_producer)), every_second_(std::move(every_second)) {}

  // Consumes until `stop` is true or the consumer reports a fatal error.
  void run(const std::atomic<bool>& stop);
  // The consumer's error hook.
  void on_error(const KafkaFailure& err);
  bool fatal() const { return fatal_; }
  const std::string& fatal_what() const { return fatal_what_; }

  // One consumed message: parsed, tracked, queued (dropped when its partition is not ours).
  void handle(Message&& m);
  // Stops fetching every assigned partition for good, saying why (shutdown).
  void pause_all(const std::string& reason);
  // Whether fetching is paused now (the lag probe asks the broker for the watermarks then).
  const std::atomic<bool>& fetching_paused() const { return fetching_paused_; }

 private:
  // Pauses or resumes fetching as the scheduler and the faults want it now.
  void apply_backpressure();
  // The paused partitions and why, for lockstep_partition_paused and the status board.
  void publish_pause_state(const std::vector<TopicPartition>& assignment, const std::string& reason);

  const Config& cfg_;
  Metrics& metrics_;
  Consumer& consumer_;
  KeyScheduler& sched_;
  OffsetBook& book_;
  const Readiness& readiness_;
  StatusBoard& board_;
  std::function<void(milliseconds)> poll_producer_;
  std::function<void()> every_second_;
  std::atomic<bool> fetching_paused_{false};
  bool fatal_ = false;
  std::string fatal_what_;
  bool paused_ = false;
  std::string pause_reason_;  // published in lockstep_partition_paused
  std::vector<TopicPartition> assigned_seen_;
  EventParser parser_;  // the consumer thread's: keeps its buffers from one event to the next
};

}  // namespace lockstep::runtime
