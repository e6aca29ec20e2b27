// What the worker is doing now, for operators (the admin API's /status):
// the partitions it holds with their lag and why fetching is paused, what is
// in flight, and whether it is ready (and why not, in words).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
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

}  // namespace lockstep
