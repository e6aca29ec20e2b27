// StatusBoard: the partitions held, their lag and pause reason, as the parts
// record them; safe to read while they write.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "runtime/status.hpp"

namespace lockstep::runtime {
namespace {

TEST(StatusBoardTest, HoldsWhatIsAssignedUntilReleased) {
  StatusBoard b;
  EXPECT_TRUE(b.partitions().empty());
  b.assigned("t.b", 1);
  b.assigned("t.a", 2);
  b.assigned("t.b", 0);
  auto ps = b.partitions();
  ASSERT_EQ(ps.size(), 3u);
  EXPECT_EQ(ps[0].topic, "t.a") << "sorted by topic, then partition";
  EXPECT_EQ(ps[1].topic, "t.b");
  EXPECT_EQ(ps[1].partition, 0);
  EXPECT_EQ(ps[2].partition, 1);
  EXPECT_EQ(ps[0].lag, std::nullopt) << "not known before the lag probe says";
  EXPECT_EQ(ps[0].paused, "");

  b.set_lag("t.b", 1, 42);
  b.set_paused("t.b", 1, "database");
  ps = b.partitions();
  EXPECT_EQ(ps[2].lag, 42);
  EXPECT_EQ(ps[2].paused, "database");
  EXPECT_EQ(ps[1].lag, std::nullopt) << "only the partition named";

  b.released("t.b", 1);
  b.set_lag("t.b", 1, 7);  // a late answer about a partition no longer ours
  b.set_paused("t.b", 1, "backpressure");
  ps = b.partitions();
  ASSERT_EQ(ps.size(), 2u);
  EXPECT_EQ(ps[1].partition, 0);

  b.assigned("t.b", 1);  // given back: starts afresh
  ps = b.partitions();
  ASSERT_EQ(ps.size(), 3u);
  EXPECT_EQ(ps[2].lag, std::nullopt);
  EXPECT_EQ(ps[2].paused, "");
}

TEST(StatusBoardTest, ReadersSeeWholeEntriesWhileWritersChangeThem) {
  StatusBoard b;
  b.assigned("t", 0);
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int64_t i = 0; i < 20000; ++i) {
      b.set_lag("t", 0, i);
      b.set_paused("t", 0, i % 2 ? "backpressure" : "");
      if (i % 100 == 0) {
        b.released("t", 1);
        b.assigned("t", 1);
      }
    }
    done = true;
  });
  int64_t last = -1;
  while (!done) {
    for (const auto& p : b.partitions()) {
      if (p.partition != 0 || !p.lag) continue;
      EXPECT_GE(*p.lag, last) << "lag values arrive in order";
      last = *p.lag;
      EXPECT_TRUE(p.paused.empty() || p.paused == "backpressure") << p.paused;
    }
  }
  writer.join();
  EXPECT_EQ(b.partitions().at(0).lag, 19999);
}

}  // namespace
}  // namespace lockstep::runtime
