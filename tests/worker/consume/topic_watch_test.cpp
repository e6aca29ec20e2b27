// TopicWatch on the development broker: a configured topic the cluster does
// not have is reported, checked again, and the watch ends once it exists.
#include <gtest/gtest.h>

#include <thread>

#include "lockstep/test/kafka.hpp"
#include "parts_support.hpp"
#include "consume/topic_watch.hpp"

namespace lockstep::runtime {
namespace {

using namespace std::chrono_literals;

TEST(TopicWatchTest, ReportsAMissingTopicUntilItExists) {
  test::TestKafka kafka;
  auto cfg = test::parts_config(kafka.bootstrap(), kafka.bot(), kafka.dlq());
  cfg.kafka.outcome_topic = kafka.topic("transitions.outcomes");
  std::atomic<bool> stopping{false}, ended{false};
  TopicWatch watch(cfg.kafka, stopping, 100ms);
  std::thread t([&] {
    watch.loop();
    ended = true;
  });
  const bool reported = test::poll_until(20s, [&] { return watch.missing().count(cfg.kafka.outcome_topic) > 0; });
  EXPECT_TRUE(reported) << "the missing outcome topic was not reported";
  EXPECT_EQ(watch.missing().size(), 1u) << "the input and dead-letter topics exist";
  EXPECT_FALSE(ended) << "the watch goes on while a topic is missing";
  kafka.create_topic("transitions.outcomes", 1);
  EXPECT_TRUE(test::poll_until(20s, [&] { return ended.load(); })) << "the watch did not end";
  EXPECT_TRUE(watch.missing().empty());
  stopping = true;
  watch.kick();
  t.join();
}

TEST(TopicWatchTest, StopsWhenTheWorkerStops) {
  test::TestKafka kafka;
  auto cfg = test::parts_config(kafka.bootstrap(), kafka.bot(), kafka.dlq());
  cfg.kafka.outcome_topic = "never-created-" + test::unique_suffix();
  std::atomic<bool> stopping{false};
  TopicWatch watch(cfg.kafka, stopping);  // every 30 s
  std::thread t([&] { watch.loop(); });
  ASSERT_TRUE(test::poll_until(20s, [&] { return !watch.missing().empty(); }));
  const auto asked = Clock::now();
  stopping = true;
  watch.kick();
  t.join();
  EXPECT_LT(Clock::now() - asked, 5s) << "the kick cuts the 30 s wait short";
}

}  // namespace
}  // namespace lockstep::runtime
