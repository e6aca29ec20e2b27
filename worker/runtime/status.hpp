// What the worker is doing now, for operators (the admin API's /status):
// the partitions it holds with their lag and why fetching is paused, what is
// in flight, and whether it is ready (and why not, in words).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace lockstep {

struct PartitionStatus {
  std::string topic;
  int32_t partition = 0;
  std::optional<int64_t> lag;  // nullopt: not known yet
  std::string paused;          // "" or why: backpressure|database|broker|shutdown
};

struct WorkerStatus {
  std::string group_id;
  std::vector<PartitionStatus> partitions;  // sorted by topic, partition
  std::size_t inflight = 0;
  double oldest_inflight_seconds = 0;
  bool ready = false;
  std::vector<std::string> not_ready;  // why, in words; empty when ready
};

namespace runtime {

// The partitions this worker holds, with their lag and pause reason, as the
// parts that know them record them (next to the matching metric series):
// Rebalance (assigned, released), LagProbe (lag), ConsumeLoop (paused). Any
// thread may read or write it.
class StatusBoard {
 public:
  // A partition now ours: lag not known yet, not paused.
  void assigned(const std::string& topic, int32_t partition);
  // No longer ours.
  void released(const std::string& topic, int32_t partition);
  // Only for a partition held now (a late answer about a released one is dropped).
  void set_lag(const std::string& topic, int32_t partition, int64_t lag);
  void set_paused(const std::string& topic, int32_t partition, const std::string& reason);
  // Sorted by topic, then partition.
  std::vector<PartitionStatus> partitions() const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int32_t>, PartitionStatus> parts_;
};

}  // namespace runtime
}  // namespace lockstep
