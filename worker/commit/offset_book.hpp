// The offsets of the assigned partitions: what was consumed, what has its
// outcome, and what was last sent to the group coordinator. Executors complete
// events, the consumer thread tracks and commits, the lag probe reads: every
// call takes the book's lock.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <vector>

#include "lockstep/kafka.hpp"
#include "commit/offsets.hpp"
#include "schedule/work.hpp"
#include "runtime/runtime_support.hpp"

namespace lockstep::runtime {

class OffsetBook {
 public:
  // Each partition starts afresh, with a generation of its own: events of an
  // earlier assignment of the same partition no longer count.
  void assign(const std::vector<TopicPartition>& parts);
  // Removes the partitions; `released` runs for each, under the book's lock.
  void release(const std::set<TopicPartition>& parts, const std::function<void(const TopicPartition&)>& released);

  // A consumed message: its generation, or nullopt when its partition is not ours (any more).
  std::optional<uint64_t> track(const std::string& topic, int32_t partition, int64_t offset);
  // The event has its outcome (ignored when its partition was revoked meanwhile).
  void complete(const Work& w);
  // Whether the event's partition still has the assignment it was consumed in.
  bool current(const Work& w) const;

  // The positions a commit sends now, marked as sent (see committer.hpp).
  // `all`: also positions sent already; an unchanged position is sent again
  // every 2 s anyway. `only`: just these partitions.
  std::vector<TopicPartition> take_positions(bool all, const std::set<TopicPartition>* only);
  // The commit of these positions failed: they go again next time.
  void unsend(const std::vector<TopicPartition>& positions);

  // The position below every completed event, per assigned partition.
  std::vector<TopicPartition> positions() const;

  struct Row {
    TopicPartition tp;
    uint64_t generation = 0;
    std::optional<int64_t> pos;
    std::optional<int64_t> last_sent;  // the position a commit last took (reset when it failed)
  };
  std::vector<Row> rows() const;
  // Runs `fn` under the book's lock when `tp` still has `generation`.
  void if_current(const TopicPartition& tp, uint64_t generation, const std::function<void()>& fn) const;

 private:
  struct PartState {
    PartitionOffsets offsets;
    uint64_t generation = 0;
    std::optional<int64_t> last_sent;
    Clock::time_point last_sent_at{};
  };
  mutable std::mutex mu_;
  std::map<TopicPartition, PartState> book_;
  uint64_t next_generation_ = 1;
};

}  // namespace lockstep::runtime
