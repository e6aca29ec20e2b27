// PartitionOffsets: the committable position of one partition (docs/event.md "Outcomes" "Offsets").
#include "commit/offsets.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <random>
#include <set>
#include <vector>

namespace lockstep {
namespace {

TEST(PartitionOffsets, NothingTrackedHasNoPosition) {
  PartitionOffsets o;
  EXPECT_EQ(o.position(), std::nullopt);
  EXPECT_EQ(o.committable(), std::nullopt);
  EXPECT_EQ(o.pending(), 0u);
  EXPECT_EQ(o.committed(), std::nullopt);
}

TEST(PartitionOffsets, KnownStartIsThePositionUntilSomethingIsTracked) {
  PartitionOffsets o(100);
  EXPECT_EQ(o.position(), 100);
  o.track(100);
  EXPECT_EQ(o.position(), 100);
  o.complete(100);
  EXPECT_EQ(o.position(), 101);
}

TEST(PartitionOffsets, InOrderCompletion) {
  PartitionOffsets o;
  for (int64_t off = 0; off < 5; ++off) o.track(off);
  EXPECT_EQ(o.pending(), 5u);
  EXPECT_EQ(o.position(), 0);
  for (int64_t off = 0; off < 5; ++off) {
    o.complete(off);
    EXPECT_EQ(o.position(), off + 1) << "after completing " << off;
  }
  EXPECT_EQ(o.pending(), 0u);
  EXPECT_EQ(o.position(), 5);
}

TEST(PartitionOffsets, OutOfOrderCompletionNeverPassesAnIncompleteOffset) {
  PartitionOffsets o;
  for (int64_t off = 10; off < 15; ++off) o.track(off);
  o.complete(14);
  EXPECT_EQ(o.position(), 10);
  o.complete(12);
  EXPECT_EQ(o.position(), 10);
  o.complete(11);
  EXPECT_EQ(o.position(), 10) << "10 is still incomplete";
  o.complete(10);
  EXPECT_EQ(o.position(), 13) << "13 is the lowest incomplete";
  o.complete(13);
  EXPECT_EQ(o.position(), 15) << "all complete: one past the highest";
}

TEST(PartitionOffsets, GapsFromCompactionAreSkipped) {
  PartitionOffsets o(0);
  o.track(3);
  o.track(7);
  o.track(20);
  EXPECT_EQ(o.position(), 3);
  o.complete(3);
  EXPECT_EQ(o.position(), 7) << "offsets 4..6 were never seen (compacted)";
  o.complete(20);
  EXPECT_EQ(o.position(), 7);
  o.complete(7);
  EXPECT_EQ(o.position(), 21);
  o.track(30);
  EXPECT_EQ(o.position(), 30);
  o.complete(30);
  EXPECT_EQ(o.position(), 31);
}

TEST(PartitionOffsets, CompletingUnknownOffsetsIsIgnored) {
  PartitionOffsets o;
  o.complete(5);  // nothing tracked at all
  EXPECT_EQ(o.position(), std::nullopt);
  EXPECT_EQ(o.pending(), 0u);

  o.track(10);
  o.track(11);
  o.complete(9);    // below everything tracked
  o.complete(12);   // above everything tracked
  o.complete(100);
  EXPECT_EQ(o.position(), 10);
  EXPECT_EQ(o.pending(), 2u);
  o.complete(10);
  o.complete(10);  // twice: no effect
  EXPECT_EQ(o.position(), 11);
  EXPECT_EQ(o.pending(), 1u);
  o.complete(11);
  EXPECT_EQ(o.position(), 12) << "completing 12 before it was tracked must not count";
  o.track(12);
  EXPECT_EQ(o.position(), 12);
  EXPECT_EQ(o.pending(), 1u);
}

TEST(PartitionOffsets, CommittableOnlyReturnsAMovedPosition) {
  PartitionOffsets o;
  o.track(0);
  o.track(1);
  o.track(2);
  EXPECT_EQ(o.committable(), 0);
  EXPECT_EQ(o.committable(), std::nullopt) << "position did not move";
  o.complete(1);
  EXPECT_EQ(o.committable(), std::nullopt) << "0 still incomplete";
  o.complete(0);
  EXPECT_EQ(o.committable(), 2);
  EXPECT_EQ(o.committable(), std::nullopt);
  o.complete(2);
  EXPECT_EQ(o.committable(), 3);
  EXPECT_EQ(o.committable(), std::nullopt);
  // position() is unaffected by what committable() returned.
  EXPECT_EQ(o.position(), 3);
}

TEST(PartitionOffsets, MarkCommittedSuppressesPositionsNotPastIt) {
  PartitionOffsets o;
  for (int64_t off = 0; off < 10; ++off) o.track(off);
  o.mark_committed(5);  // e.g. committed by a previous owner / synchronous commit
  EXPECT_EQ(o.committed(), 5);
  for (int64_t off = 0; off < 5; ++off) {
    o.complete(off);
    EXPECT_EQ(o.committable(), std::nullopt) << "position " << off + 1 << " <= committed 5";
  }
  o.complete(5);
  EXPECT_EQ(o.position(), 6);
  EXPECT_EQ(o.committable(), 6);
  o.mark_committed(6);
  EXPECT_EQ(o.committed(), 6);
  EXPECT_EQ(o.committable(), std::nullopt);
  for (int64_t off = 6; off < 10; ++off) o.complete(off);
  EXPECT_EQ(o.committable(), 10);
  o.mark_committed(10);
  EXPECT_EQ(o.committed(), 10);
  EXPECT_EQ(o.position(), 10);
}

// The assignment start is where the group already is: committing it again is noise.
TEST(PartitionOffsets, CommittableDoesNotReturnTheAssignmentStart) {
  PartitionOffsets o(100);
  EXPECT_EQ(o.committable(), std::nullopt);
  o.track(100);
  EXPECT_EQ(o.committable(), std::nullopt);
  o.complete(100);
  EXPECT_EQ(o.committable(), 101);
}

// Property: under a random completion order of many offsets (tracked in increasing
// order, with gaps, interleaved with completions), position() is always the lowest
// incomplete offset, or one past the highest tracked when everything is complete.
TEST(PartitionOffsets, RandomCompletionOrderProperty) {
  for (uint64_t seed : {1u, 2u, 3u}) {
    std::mt19937_64 rng(seed);
    PartitionOffsets o;
    std::vector<int64_t> offsets;
    int64_t next = static_cast<int64_t>(rng() % 5);
    for (int i = 0; i < 10000; ++i) {
      offsets.push_back(next);
      next += 1 + static_cast<int64_t>(rng() % 3 == 0 ? rng() % 4 : 0);  // some gaps
    }
    std::set<int64_t> incomplete;  // the model
    std::vector<int64_t> tracked_not_completed;
    std::size_t to_track = 0;
    int64_t highest = -1;
    std::optional<int64_t> last_committable;
    std::size_t steps = 0;
    while (to_track < offsets.size() || !tracked_not_completed.empty()) {
      const bool do_track =
          to_track < offsets.size() && (tracked_not_completed.empty() || rng() % 2 == 0);
      if (do_track) {
        const int64_t off = offsets[to_track++];
        o.track(off);
        incomplete.insert(off);
        tracked_not_completed.push_back(off);
        highest = off;
      } else {
        const std::size_t i = rng() % tracked_not_completed.size();
        const int64_t off = tracked_not_completed[i];
        tracked_not_completed[i] = tracked_not_completed.back();
        tracked_not_completed.pop_back();
        o.complete(off);
        incomplete.erase(off);
      }
      const int64_t expected = incomplete.empty() ? highest + 1 : *incomplete.begin();
      const auto pos = o.position();
      ASSERT_TRUE(pos.has_value());
      ASSERT_EQ(*pos, expected) << "seed " << seed << " step " << steps;
      ASSERT_EQ(o.pending(), incomplete.size());
      if (steps++ % 7 == 0) {
        const auto c = o.committable();
        if (c) {
          ASSERT_EQ(*c, expected);
          if (last_committable) {
            ASSERT_GT(*c, *last_committable) << "committable went backwards";
          }
          last_committable = c;
        }
      }
    }
    EXPECT_EQ(o.position(), offsets.back() + 1);
    EXPECT_EQ(o.pending(), 0u);
  }
}

// Pure random permutation of all 10k offsets after tracking them all.
TEST(PartitionOffsets, RandomPermutationOfTenThousand) {
  std::mt19937_64 rng(42);
  constexpr int64_t kN = 10000;
  PartitionOffsets o;
  for (int64_t off = 0; off < kN; ++off) o.track(off);
  std::vector<int64_t> order(kN);
  for (int64_t i = 0; i < kN; ++i) order[static_cast<std::size_t>(i)] = i;
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<bool> done(kN, false);
  int64_t lowest = 0;
  for (int64_t off : order) {
    o.complete(off);
    done[static_cast<std::size_t>(off)] = true;
    while (lowest < kN && done[static_cast<std::size_t>(lowest)]) ++lowest;
    ASSERT_EQ(o.position(), lowest);  // == kN (highest + 1) at the end
  }
  EXPECT_EQ(o.position(), kN);
}

}  // namespace
}  // namespace lockstep
