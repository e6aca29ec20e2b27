// LagProbe on the development broker: a partition's lag counts from the
// position below every completed event, else from the group's committed
// offset, else from the low watermark; every answer is heard as the broker
// answering (readiness).
#include <gtest/gtest.h>

#include "consume/lag_probe.hpp"
#include "parts_support.hpp"

namespace lockstep::runtime {
namespace {

using namespace std::chrono_literals;

class LagProbeTest : public test::PartsTest {
 protected:
  void SetUp() override {
    Producer producer(kafka.bootstrap(), {});
    std::vector<OutMessage> msgs(10, OutMessage{kafka.bot(), std::string("k"), "v", {}, 0});
    for (const auto& d : producer.send(msgs, 10s)) ASSERT_FALSE(d.error) << d.error.str();
    book.assign({{kafka.bot(), 0}});
    board.assigned(kafka.bot(), 0);
  }
  double lag() { return test::series(metrics, "lockstep_consumer_lag", kafka.bot(), 0); }
  // The lag the status board shows (nullopt: not known yet; -1: the partition is not there).
  std::optional<int64_t> board_lag() {
    for (const auto& p : board.partitions())
      if (p.topic == kafka.bot() && p.partition == 0) return p.lag;
    return -1;
  }

  Consumer consumer{kafka.bootstrap(), cfg.kafka.group_id, {}, {}};
  std::atomic<bool> paused{true};  // nothing is fetched: the watermarks are asked of the broker
  LagProbe probe{cfg.kafka, metrics, consumer, book, readiness, board, paused};
};

TEST_F(LagProbeTest, LagCountsFromTheLowWatermarkBeforeAnything) {
  EXPECT_EQ(board_lag(), std::nullopt);
  probe.pass();
  EXPECT_EQ(lag(), 10);
  EXPECT_EQ(board_lag(), 10);
  EXPECT_FALSE(readiness.broker_silent());
}

TEST_F(LagProbeTest, LagCountsFromTheGroupsCommittedOffset) {
  Consumer other(kafka.bootstrap(), cfg.kafka.group_id, {}, {});
  ASSERT_FALSE(other.commit({{kafka.bot(), 0, 7}}, false, 5s));
  probe.pass();
  EXPECT_EQ(lag(), 3);
}

TEST_F(LagProbeTest, LagCountsFromTheCompletedPosition) {
  const auto g = *book.track(kafka.bot(), 0, 0);
  for (int64_t o = 1; o < 6; ++o) book.track(kafka.bot(), 0, o);
  for (int64_t o = 0; o < 4; ++o) book.complete(*test::work_at(kafka.bot(), 0, o, g));
  probe.pass();
  EXPECT_EQ(lag(), 6) << "offsets 4 and 5 have no outcome yet";
  EXPECT_EQ(board_lag(), 6);
  book.release({{kafka.bot(), 0}}, [&](const TopicPartition& tp) {
    metrics.remove_lag(tp.topic, tp.partition);
    board.released(tp.topic, tp.partition);
  });
  probe.pass();
  EXPECT_EQ(lag(), -1) << "a revoked partition's lag is the next owner's";
  EXPECT_EQ(board_lag(), -1);
}

}  // namespace
}  // namespace lockstep::runtime
