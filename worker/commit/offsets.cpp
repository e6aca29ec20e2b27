#include "commit/offsets.hpp"

namespace lockstep {

void PartitionOffsets::track(int64_t offset) {
  pending_.insert(offset);
  if (offset + 1 > next_) next_ = offset + 1;
}

void PartitionOffsets::complete(int64_t offset) { pending_.erase(offset); }

std::optional<int64_t> PartitionOffsets::position() const {
  if (!pending_.empty()) return *pending_.begin();
  if (next_ < 0) return std::nullopt;
  return next_;
}

std::optional<int64_t> PartitionOffsets::committable() {
  auto pos = position();
  if (!pos) return std::nullopt;
  if (last_returned_ && *pos <= *last_returned_) return std::nullopt;
  if (committed_ && *pos <= *committed_) return std::nullopt;
  last_returned_ = pos;
  return pos;
}

}  // namespace lockstep
