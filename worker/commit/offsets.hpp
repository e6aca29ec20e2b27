// Completed-offset tracking per partition (docs/event.md "Outcomes" "Offsets").
#pragma once

#include <cstdint>
#include <deque>
#include <optional>

namespace lockstep {

// Tracks the offsets of one partition that were handed out and not yet completed.
// The committable position is the lowest incomplete offset (Kafka commits "the
// next offset to read"), or one past the highest seen when all are complete.
// Offsets must be tracked in increasing order (gaps are fine: compaction,
// transaction markers). Not thread-safe; the caller serialises.
class PartitionOffsets {
 public:
  // `start` is the position the partition was assigned at (nothing below it is ours).
  explicit PartitionOffsets(int64_t start = -1) : next_(start) {
    if (start >= 0) last_returned_ = start;  // the start itself is already "committed"
  }

  void track(int64_t offset);      // consumed, no outcome yet
  void complete(int64_t offset);   // outcome durable; unknown offsets are ignored
  // Position safe to commit, when it moved past the last value returned by
  // committable() (or the assignment start); nullopt when nothing new.
  std::optional<int64_t> committable();
  std::optional<int64_t> position() const;  // current safe position, regardless of what was committed
  void mark_committed(int64_t position) { committed_ = position; }
  std::optional<int64_t> committed() const { return committed_; }
  std::size_t pending() const { return pending_; }

 private:
  // Tracked offsets in ascending order, each marked once complete; the front
  // is always incomplete (complete ones there are dropped). Offsets arrive in
  // order, so tracking appends and no event costs an allocation of its own.
  struct Slot {
    int64_t offset;
    bool complete;
  };
  std::deque<Slot> window_;
  std::size_t pending_ = 0;
  int64_t next_;  // one past the highest tracked offset, or the start position; -1 unknown
  std::optional<int64_t> committed_;
  std::optional<int64_t> last_returned_;
};

}  // namespace lockstep
