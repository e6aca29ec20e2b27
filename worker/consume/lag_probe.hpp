// Lag of every assigned partition, whether or not anything was consumed from
// it: the broker's high watermark minus the position below which every event
// has an outcome (or, before the first event, the group's committed offset,
// else the low watermark: where auto.offset.reset=earliest starts). A paused
// partition fetches nothing, so its watermark is asked of the broker; for the
// others the one from the last fetch response is used. Off the consumer
// thread: a watermark query can wait for a broker that does not answer.
// The broker's answers are also the worker's evidence that the broker answers
// at all (readiness): a path that drops packets sends no error for a long time.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "lockstep/config.hpp"
#include "lockstep/kafka.hpp"
#include "lockstep/metrics.hpp"
#include "commit/offset_book.hpp"
#include "runtime/readiness.hpp"
#include "runtime/status.hpp"
#include "runtime/runtime_support.hpp"

namespace lockstep::runtime {

class LagProbe {
 public:
  LagProbe(const KafkaConfig& kafka, Metrics& metrics, Consumer& consumer, OffsetBook& book, Readiness& readiness,
           StatusBoard& board, const std::atomic<bool>& fetching_paused)
      : kafka_(kafka), metrics_(metrics), consumer_(consumer), book_(book), readiness_(readiness), board_(board),
        fetching_paused_(fetching_paused) {}

  // A pass every 2 s (1 s while the broker is silent) until the worker stops.
  void loop();
  // One pass: sets lockstep_partition_lag (and the board's lag) of the assigned partitions.
  void pass();
  void kick() { waker_.kick(); }
  // Asks nothing more of the broker and leaves the loop: at the start of a
  // shutdown, so that a watermark query (which cannot be cut short) is not
  // still waiting for a silent broker when the thread is joined.
  void leave() {
    leaving_ = true;
    waker_.kick();
  }

 private:
  bool leaving() const { return leaving_ || readiness_.stopping; }
  using Rows = std::vector<OffsetBook::Row>;
  // The group's committed offsets of the partitions that have no position yet.
  void read_starts(const Rows& rows);
  // Sets one partition's lag. `ask_high`: its high watermark is asked of the broker;
  // `answered`/`failed` record this pass's questions (after one failed, none is asked).
  void probe_row(const OffsetBook::Row& r, bool ask_high, bool& answered, bool& failed);
  // The broker's verdict for readiness' log lines and the infra error count.
  void report_silence();
  // How long a watermark query may take (see the .cpp).
  milliseconds watermark_timeout() const;

  const KafkaConfig& kafka_;
  Metrics& metrics_;
  Consumer& consumer_;
  OffsetBook& book_;
  Readiness& readiness_;
  StatusBoard& board_;
  const std::atomic<bool>& fetching_paused_;
  Waker waker_;
  std::map<TopicPartition, std::pair<uint64_t, int64_t>> start_of_;  // tp -> (generation, committed offset or -1)
  std::size_t probe_ = 0;  // one fetched partition is asked each pass, in turn
  bool broker_stalled_ = false;
  std::atomic<bool> leaving_{false};
};

}  // namespace lockstep::runtime
