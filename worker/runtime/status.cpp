#include "runtime/status.hpp"

namespace lockstep::runtime {

void StatusBoard::assigned(const std::string& topic, int32_t partition) {
  std::lock_guard lk(mu_);
  parts_[{topic, partition}] = PartitionStatus{topic, partition, std::nullopt, ""};
}

void StatusBoard::released(const std::string& topic, int32_t partition) {
  std::lock_guard lk(mu_);
  parts_.erase({topic, partition});
}

void StatusBoard::set_lag(const std::string& topic, int32_t partition, int64_t lag) {
  std::lock_guard lk(mu_);
  if (auto it = parts_.find({topic, partition}); it != parts_.end()) it->second.lag = lag;
}

void StatusBoard::set_paused(const std::string& topic, int32_t partition, const std::string& reason) {
  std::lock_guard lk(mu_);
  if (auto it = parts_.find({topic, partition}); it != parts_.end()) it->second.paused = reason;
}

std::vector<PartitionStatus> StatusBoard::partitions() const {
  std::lock_guard lk(mu_);
  std::vector<PartitionStatus> out;
  out.reserve(parts_.size());
  for (const auto& [key, p] : parts_) out.push_back(p);
  return out;
}

}  // namespace lockstep::runtime
