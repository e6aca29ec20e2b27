// Rebalance on the development broker: a revocation releases the revoked
// partitions' queued events, lets their running ones finish, commits their
// final positions and leaves the other partitions running; a lost partition
// is not committed.
#include <gtest/gtest.h>

#include <thread>

#include "outcome/completion.hpp"
#include "parts_support.hpp"
#include "consume/rebalance.hpp"

namespace lockstep::runtime {
namespace {

using namespace std::chrono_literals;

class RebalancePartTest : public test::PartsTest {
 protected:
  void SetUp() override {
    rebalance.on_assign({{kafka.bot(), 0}, {kafka.bot(), 1}});
    for (int32_t p = 0; p < 2; ++p)
      for (int64_t o = 0; o < 3; ++o) sched.push(test::work_at(kafka.bot(), p, o, *book.track(kafka.bot(), p, o),
                                              std::to_string(p) + "-" + std::to_string(o)));
  }
  int64_t committed(int32_t p) {
    Consumer reader(kafka.bootstrap(), cfg.kafka.group_id, {}, {});
    return reader.committed({{kafka.bot(), p}}, 5s).at(0).offset;
  }
  bool has(int32_t p) {
    for (const auto& row : book.rows())
      if (row.tp.partition == p) return true;
    return false;
  }
  // The partitions the status board shows.
  std::vector<int32_t> on_board() const {
    std::vector<int32_t> out;
    for (const auto& s : board.partitions()) out.push_back(s.partition);
    return out;
  }

  Completion completion{book, sched};
  Consumer consumer{kafka.bootstrap(), cfg.kafka.group_id, {}, {}};
  Committer committer{cfg.kafka, metrics, consumer, book, readiness.stopping, stop};
  Rebalance rebalance{cfg.shutdown_timeout_ms, metrics, sched, book, committer, readiness, board, stop,
                      [](milliseconds t) { std::this_thread::sleep_for(t); }};
};

TEST_F(RebalancePartTest, RevocationWaitsForRunningEventsAndCommitsThem) {
  EXPECT_TRUE(readiness.joined);
  EXPECT_EQ(on_board(), (std::vector<int32_t>{0, 1}));
  // Offset 0 of both partitions runs (distinct keys); partition 0's finishes during the revocation.
  auto running = sched.take_batch(10, 1s, 0ms);
  ASSERT_EQ(running.size(), 6u);
  for (auto& w : running)
    if (w->src.offset > 0) sched.retry_later(std::move(w), 10s);  // back to wait: dropped with the partition
  std::thread finisher([&] {
    std::this_thread::sleep_for(300ms);
    for (auto& w : running)
      if (w && w->src.partition == 0) completion.complete(std::move(w));
  });
  rebalance.on_revoke({{kafka.bot(), 0}}, false);
  finisher.join();
  EXPECT_EQ(committed(0), 1) << "the event that finished during the revocation counts";
  EXPECT_FALSE(has(0));
  EXPECT_TRUE(has(1)) << "a partition that stays keeps running";
  EXPECT_EQ(on_board(), (std::vector<int32_t>{1}));
  EXPECT_LT(committed(1), 0) << "only the revoked partitions are committed";
  EXPECT_EQ(sched.size(), 3u) << "partition 1's events stay; partition 0's are released";
  for (auto& w : running)
    if (w) completion.complete(std::move(w));
}

TEST_F(RebalancePartTest, LostPartitionsAreNotCommitted) {
  auto running = sched.take_batch(10, 1s, 0ms);
  for (auto& w : running) completion.complete(std::move(w));
  rebalance.on_revoke({{kafka.bot(), 0}, {kafka.bot(), 1}}, true);
  EXPECT_LT(committed(0), 0);
  EXPECT_FALSE(has(0));
  EXPECT_FALSE(has(1));
  EXPECT_TRUE(on_board().empty());
  EXPECT_EQ(sched.size(), 0u);
}

TEST_F(RebalancePartTest, AnAssignmentOpensANewGeneration) {
  auto w = sched.take_batch(1, 1s, 0ms);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_TRUE(book.current(*w[0]));
  rebalance.on_assign({{w[0]->src.topic, w[0]->src.partition}});
  EXPECT_FALSE(book.current(*w[0])) << "an event of the earlier assignment does not count";
  completion.retry_or_release(std::move(w[0]), 10s);
  EXPECT_EQ(sched.in_flight(), 0u);
}

}  // namespace
}  // namespace lockstep::runtime
