#include "commit/offsets.hpp"

#include <algorithm>

namespace lockstep {

void PartitionOffsets::track(int64_t offset) {
  if (offset + 1 > next_) next_ = offset + 1;
  if (window_.empty() || offset > window_.back().offset) {
    window_.push_back({offset, false});
    ++pending_;
    return;
  }
  // Out of order (not seen from a consumer, but allowed): its place.
  const auto it = std::lower_bound(window_.begin(), window_.end(), offset,
                                   [](const Slot& s, int64_t o) { return s.offset < o; });
  if (it != window_.end() && it->offset == offset) {
    if (it->complete) {
      it->complete = false;
      ++pending_;
    }
    return;
  }
  window_.insert(it, {offset, false});
  ++pending_;
}

void PartitionOffsets::complete(int64_t offset) {
  const auto it = std::lower_bound(window_.begin(), window_.end(), offset,
                                   [](const Slot& s, int64_t o) { return s.offset < o; });
  if (it == window_.end() || it->offset != offset || it->complete) return;
  it->complete = true;
  --pending_;
  while (!window_.empty() && window_.front().complete) window_.pop_front();
}

std::optional<int64_t> PartitionOffsets::position() const {
  if (!window_.empty()) return window_.front().offset;
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
