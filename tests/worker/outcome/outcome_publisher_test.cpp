// OutcomePublisher on the development broker: an event is complete (its
// offset committable) only once the broker acknowledged its outcome message;
// a message the broker refuses sends the event round again.
#include <gtest/gtest.h>

#include "lockstep/test/kafka.hpp"
#include "outcome/outcome_publisher.hpp"
#include "parts_support.hpp"

namespace lockstep::runtime {
namespace {

using namespace std::chrono_literals;

class OutcomePublisherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kafka.create_topic("transitions.outcomes", 1);
    book.assign({{kafka.bot(), 0}});
    sched.push(test::work_at(kafka.bot(), 0, 0, *book.track(kafka.bot(), 0, 0)));
  }
  // The event, in flight as an executor holds it.
  WorkPtr take() {
    auto batch = sched.take_batch(1, 1s, 0ms);
    return batch.empty() ? nullptr : std::move(batch[0]);
  }
  int64_t position() { return book.positions().at(0).offset; }

  test::TestKafka kafka;
  Metrics metrics;
  KeyScheduler sched;
  OffsetBook book;
  Completion completion{book, sched};
  std::atomic<bool> outcome_ok{true};
  Producer producer{kafka.bootstrap(), {}};
  OutcomePublisher publisher{&producer, kafka.topic("transitions.outcomes"), completion, metrics, outcome_ok};
};

TEST_F(OutcomePublisherTest, CompletesTheEventOnlyAfterDelivery) {
  ASSERT_TRUE(publisher.enabled());
  ItemResult r;
  r.outcome = Outcome::applied;
  publisher.publish(take(), r);
  EXPECT_EQ(position(), 0) << "not acknowledged yet: the offset is not committable";
  EXPECT_TRUE(publisher.oldest_pending());
  EXPECT_EQ(sched.in_flight(), 1u);
  ASSERT_TRUE(test::poll_until(20s, [&] {
    publisher.poll(50ms);
    return position() == 1;
  })) << "the delivery report never completed the event";
  EXPECT_FALSE(publisher.oldest_pending());
  EXPECT_EQ(sched.size(), 0u);
  EXPECT_TRUE(outcome_ok);
  const auto msgs = read_topics(kafka.bootstrap(), {}, {kafka.topic("transitions.outcomes")}, 20s);
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_NE(msgs[0].value.find("applied"), std::string::npos) << msgs[0].value;
}

TEST_F(OutcomePublisherTest, ARefusedMessageSendsTheEventRoundAgain) {
  ASSERT_NE(kafka.mock(), nullptr);
  kafka.mock()->push_request_errors(0, {10});  // Produce: MESSAGE_TOO_LARGE, not retried
  ItemResult r;
  r.outcome = Outcome::applied;
  publisher.publish(take(), r);
  ASSERT_TRUE(test::poll_until(20s, [&] {
    publisher.poll(50ms);
    return !outcome_ok;
  })) << "the refusal was never reported";
  EXPECT_EQ(position(), 0) << "an outcome the broker does not have must not complete the event";
  EXPECT_EQ(sched.size(), 1u);
  EXPECT_EQ(sched.in_flight(), 0u) << "the event waits to go again";
  auto again = sched.take_batch(1, 3s, 0ms);
  ASSERT_EQ(again.size(), 1u) << "the event goes again after its delay";
  EXPECT_EQ(again[0]->src.offset, 0);
  completion.complete(std::move(again[0]));
}

TEST_F(OutcomePublisherTest, WithoutATopicNothingIsPublished) {
  OutcomePublisher off(&producer, "", completion, metrics, outcome_ok);
  EXPECT_FALSE(off.enabled());
  const auto before = Clock::now();
  off.poll(20ms);  // just waits
  EXPECT_GE(Clock::now() - before, 20ms);
  completion.complete(take());
}

}  // namespace
}  // namespace lockstep::runtime
