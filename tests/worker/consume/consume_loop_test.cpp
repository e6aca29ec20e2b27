// ConsumeLoop on the development broker: fetching pauses when the in-flight
// limit is reached and resumes once the executors drain half of it;
// messages of partitions that are not ours are dropped.
#include <gtest/gtest.h>
#include <librdkafka/rdkafkacpp.h>

#include <thread>

#include "consume/consume_loop.hpp"
#include "parts_support.hpp"

namespace lockstep::runtime {
namespace {

using namespace std::chrono_literals;

class ConsumeLoopTest : public test::PartsTest {
 protected:
  void SetUp() override {
    cfg.limits.max_inflight = 4;
    readiness.db_ok = true;
    Producer producer(kafka.bootstrap(), {});
    std::vector<OutMessage> msgs;
    for (int i = 0; i < 40; ++i) {
      // Appended, not "literal" + std::to_string: GCC 12's false -Wrestrict at -O3 (bug 105329).
      std::string agg = "m";
      agg += std::to_string(i);
      std::string id = "c";
      id += std::to_string(i);
      const auto e = test::event(id, agg, "join").actor("t");
      msgs.push_back({kafka.bot(), e.key(), e.json(), {}, 0});
    }
    for (const auto& d : producer.send(msgs, 10s)) ASSERT_FALSE(d.error) << d.error.str();
  }
  void TearDown() override {
    stop = true;
    if (thread.joinable()) thread.join();
  }
  // Takes every event there is and gives it its outcome; returns how many.
  std::size_t drain() {
    std::size_t n = 0;
    for (auto batch = sched.take_batch(100, 10ms, 0ms); !batch.empty(); batch = sched.take_batch(100, 10ms, 0ms))
      for (auto& w : batch) {
        book.complete(*w);
        sched.done(std::move(w));
        ++n;
      }
    return n;
  }

  // Why the status board says partition 0 is paused ("" not paused, "?" not there).
  std::string paused_on_board() const {
    for (const auto& p : board.partitions())
      if (p.topic == kafka.bot() && p.partition == 0) return p.paused;
    return "?";
  }

  std::unique_ptr<ConsumeLoop> loop;
  Consumer consumer{kafka.bootstrap(), cfg.kafka.group_id,
                    {{"auto.offset.reset", "earliest"},
                     {"session.timeout.ms", test::group_session_timeout_ms()},
                     {"heartbeat.interval.ms", "500"}},
                    Consumer::Hooks{[this](const auto& parts) {
                                      book.assign(parts);
                                      for (const auto& p : parts) board.assigned(p.topic, p.partition);
                                    },
                                    {},
                                    [this](const KafkaFailure& err) { loop->on_error(err); }}};
  std::thread thread;
};

TEST_F(ConsumeLoopTest, PausesAtTheInFlightLimitAndResumesWhenDrained) {
  loop = std::make_unique<ConsumeLoop>(cfg, metrics, consumer, sched, book, readiness, board, [](milliseconds) {},
                                       nullptr);
  consumer.subscribe({kafka.bot()});
  thread = std::thread([&] { loop->run(stop); });
  ASSERT_TRUE(test::poll_until(30s, [&] { return loop->fetching_paused().load(); })) << "never paused";
  EXPECT_GE(sched.size(), 4u);
  EXPECT_EQ(test::series(metrics, "lockstep_partition_paused", kafka.bot(), 0, "reason=\"backpressure\""), 1);
  EXPECT_EQ(paused_on_board(), "backpressure");
  // While nobody takes the events, fetching stays paused.
  std::this_thread::sleep_for(500ms);
  EXPECT_TRUE(loop->fetching_paused().load());
  // Executors finish what is in flight: fetching resumes and the rest arrives.
  std::size_t done = 0;
  ASSERT_TRUE(test::poll_until(30s, [&] {
    done += drain();
    return done == 40 && !loop->fetching_paused().load();
  })) << "consumed " << done << " of 40";
  EXPECT_EQ(test::series(metrics, "lockstep_partition_paused", kafka.bot(), 0, "reason=\"backpressure\""), -1);
  EXPECT_EQ(paused_on_board(), "");
  EXPECT_EQ(book.positions().at(0).offset, 40);
}

TEST_F(ConsumeLoopTest, AMessageOfAPartitionNotOursIsDropped) {
  loop = std::make_unique<ConsumeLoop>(cfg, metrics, consumer, sched, book, readiness, board, [](milliseconds) {},
                                       nullptr);
  loop->handle(Message{kafka.bot(), 2, 7, -1, std::string("membership:x"), "{}", {}});
  EXPECT_EQ(sched.size(), 0u);
  book.assign({{kafka.bot(), 2}});
  loop->handle(Message{kafka.bot(), 2, 7, -1, std::string("membership:x"), "not json", {}});
  ASSERT_EQ(sched.size(), 1u) << "a malformed event is still an event to give an outcome";
  EXPECT_EQ(book.positions().at(0).offset, 7);
}

TEST_F(ConsumeLoopTest, AFatalErrorEndsTheLoop) {
  loop = std::make_unique<ConsumeLoop>(cfg, metrics, consumer, sched, book, readiness, board, [](milliseconds) {},
                                       nullptr);
  KafkaFailure broken = kafka_failure(RdKafka::ERR__FATAL, "broken");
  ASSERT_TRUE(broken.fatal);
  loop->on_error(broken);
  loop->run(stop);  // returns at once
  EXPECT_TRUE(loop->fatal());
  EXPECT_EQ(loop->fatal_what(), "broken");
}

}  // namespace
}  // namespace lockstep::runtime
