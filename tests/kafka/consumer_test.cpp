// The Kafka adapter against the mock cluster (the real protocol over real
// sockets): what it promises about time when the broker stops answering.
#include <gtest/gtest.h>
#include <librdkafka/rdkafkacpp.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "lockstep/kafka.hpp"
#include "lockstep/test/support.hpp"

namespace lockstep {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using test::poll_until;

class ConsumerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster.create_topic("t", 2);
    Producer p(cluster.bootstraps(), {});
    std::vector<OutMessage> msgs;
    for (int i = 0; i < 4; ++i) {
      OutMessage m{"t", std::string("k") + std::to_string(i), "v", {}};
      m.partition = i % 2;
      msgs.push_back(std::move(m));
    }
    for (const auto& d : p.send(msgs, 10s)) ASSERT_FALSE(d.error) << d.error.str();
  }
  // A new one-partition topic holding `n` messages, offsets 0..n-1.
  void fill(const std::string& topic, int n) {
    cluster.create_topic(topic, 1);
    Producer p(cluster.bootstraps(), {});
    std::vector<OutMessage> msgs;
    for (int i = 0; i < n; ++i) msgs.push_back({topic, "k", std::to_string(i), {}});
    for (const auto& d : p.send(msgs, 10s)) ASSERT_FALSE(d.error) << d.error.str();
  }
  // Every response delayed past socket.timeout.ms: a broker behind a path that drops packets.
  void silence() { cluster.set_rtt(1, 120s); }
  void answer() { cluster.set_rtt(1, 0ms); }

  MockCluster cluster{1};
  KafkaProps props{{"session.timeout.ms", "6000"}, {"heartbeat.interval.ms", "500"}};
};

TEST_F(ConsumerTest, WatermarksAreAskedWithinTheirTimeoutAndAnswerAgainAfterASilence) {
  Consumer c(cluster.bootstraps(), "g-wm", props, {});
  const auto wm = c.query_watermarks("t", 0, 5s);
  ASSERT_TRUE(wm.has_value());
  EXPECT_EQ(wm->first, 0);
  EXPECT_EQ(wm->second, 2);

  silence();
  const auto asked = Clock::now();
  EXPECT_FALSE(c.query_watermarks("t", 1, 1000ms).has_value());
  EXPECT_LT(Clock::now() - asked, 3s) << "the timeout bounds the whole question, not only the leader look-up";

  answer();
  std::optional<std::pair<int64_t, int64_t>> again;
  EXPECT_TRUE(poll_until(30s, [&] { return (again = c.query_watermarks("t", 1, 1000ms)).has_value(); }))
      << "no answer after the broker answered again";
  if (again) {
    EXPECT_EQ(again->second, 2);
  }
}

TEST_F(ConsumerTest, SynchronousCommitIsBoundedAndAnUnansweredOneStaysTheOnlyOneOutstanding) {
  Consumer c(cluster.bootstraps(), "g-commit", props, {});
  const auto ok = c.commit({{"t", 0, 1}}, false, 5s);
  ASSERT_FALSE(ok) << ok.str();

  silence();
  auto sent = Clock::now();
  const auto first = c.commit({{"t", 0, 2}}, false, 1000ms);
  EXPECT_TRUE(first) << "a commit nobody answered reported success";
  EXPECT_TRUE(first.retriable) << first.str();
  EXPECT_FALSE(first.fatal) << first.str();
  EXPECT_LT(Clock::now() - sent, 3s) << "the commit waited past its timeout";
  // A newer commit must not overtake the unanswered one: refused without being sent.
  sent = Clock::now();
  const auto refused = c.commit({{"t", 0, 3}}, false, 500ms);
  EXPECT_EQ(refused.code, RdKafka::ERR__PREV_IN_PROGRESS) << refused.str();
  EXPECT_EQ(refused.str(), "an earlier offset commit is still unanswered");
  EXPECT_TRUE(refused.retriable);
  EXPECT_LT(Clock::now() - sent, 3s);

  answer();
  EXPECT_TRUE(poll_until(60s, [&] { return !c.commit({{"t", 0, 4}}, false, 2s); }))
      << "commits never succeeded again after the broker answered";
  std::vector<TopicPartition> got;
  ASSERT_TRUE(poll_until(30s, [&] {
    try {
      got = c.committed({{"t", 0, -1}}, 2s);
      return true;
    } catch (const KafkaError&) {
      return false;
    }
  }));
  EXPECT_EQ(got.at(0).offset, 4) << "an older commit landed after the newer one";
}

// A commit waiting for a silent coordinator ends early only when its caller
// gave up: a wake alone (or one left over on the queue) does not shorten it.
TEST_F(ConsumerTest, AWaitForACommitAnswerEndsEarlyOnlyWhenGivenUp) {
  Consumer c(cluster.bootstraps(), "g-give-up", props, {});
  const auto ok = c.commit({{"t", 0, 1}}, false, 5s);
  ASSERT_FALSE(ok) << ok.str();
  silence();
  std::atomic<bool> give_up{false}, done{false};
  KafkaFailure result;
  auto started = Clock::now();
  std::thread t([&] {
    result = c.commit({{"t", 0, 2}}, false, 1500ms, &give_up);
    done = true;
  });
  // Woken over and over without giving up: the commit still waits its timeout.
  EXPECT_TRUE(poll_until(10s, [&] {
    c.wake_commit_wait();
    return done.load();
  }));
  t.join();
  EXPECT_GE(Clock::now() - started, 1400ms) << "a wake without giving up ended the wait";
  EXPECT_EQ(result.code, RdKafka::ERR__TIMED_OUT) << result.str();

  // The next commit waits for the unanswered one, with a long timeout, until given up.
  done = false;
  t = std::thread([&] {
    result = c.commit({{"t", 0, 3}}, false, 60s, &give_up);
    done = true;
  });
  started = Clock::now();
  give_up = true;
  c.wake_commit_wait();
  EXPECT_TRUE(poll_until(10s, [&] { return done.load(); }));
  t.join();
  EXPECT_LT(Clock::now() - started, 1s) << "giving up did not end the wait";
  EXPECT_EQ(result.code, RdKafka::ERR__PREV_IN_PROGRESS) << result.str();
  answer();
}

TEST_F(ConsumerTest, CloseWhileTheCoordinatorIsSilentReturnsInTime) {
  bool assigned = false;
  Consumer::Hooks hooks;
  hooks.on_assign = [&](const std::vector<TopicPartition>&) { assigned = true; };
  Consumer c(cluster.bootstraps(), "g-close", props, hooks);
  c.subscribe({"t"});
  ASSERT_TRUE(poll_until(30s, [&] {
    (void)c.poll(100ms);
    return assigned;
  }));
  silence();
  const auto closing = Clock::now();
  c.close(2000ms);
  EXPECT_LT(Clock::now() - closing, 4s) << "close() waited on the silent coordinator";
  answer();
}

// The worker pauses fetching whenever it holds limits.max_inflight events, and
// resumes once it has worked them off: fetching must start again at once, not
// when librdkafka's broker thread next wakes on its own (up to a second later,
// with the worker idle meanwhile), and from the first message not yet consumed.
TEST_F(ConsumerTest, FetchingStartsAgainRightAfterAResumeWhereItStopped) {
  constexpr int kTrials = 10;
  ASSERT_NO_FATAL_FAILURE(fill("r", 50 * kTrials));
  // No heartbeats or other traffic to wake the fetching thread by chance.
  Consumer c(cluster.bootstraps(), "g-resume", {{"fetch.wait.max.ms", "10"}}, {});
  c.subscribe({"r"});
  std::optional<Message> m;
  ASSERT_TRUE(poll_until(30s, [&] { return (m = c.poll(100ms)).has_value(); }));
  int64_t next = m->offset + 1;
  std::vector<long> waits_ms;
  int slow = 0;
  for (int trial = 0; trial < kTrials; ++trial) {
    const auto parts = c.assignment();
    ASSERT_EQ(parts.size(), 1u);
    c.pause(parts);
    // Paused for a while, as while the worker works off what it holds: the
    // fetching thread has nothing to fetch and goes to sleep. Whatever was
    // fetched before the pause is dropped by librdkafka, not delivered.
    const auto paused_until = Clock::now() + 300ms;
    while (Clock::now() < paused_until) ASSERT_FALSE(c.poll(20ms).has_value()) << "a message while paused";
    c.resume(parts);
    const auto resumed = Clock::now();
    ASSERT_TRUE(poll_until(10s, [&] { return (m = c.poll(5ms)).has_value(); })) << "nothing after resume " << trial;
    const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - resumed).count();
    waits_ms.push_back(static_cast<long>(waited));
    if (waited > 400) ++slow;
    ASSERT_EQ(m->offset, next) << "fetching went on from another offset than the next one not consumed";
    // A few more, so that the next pause drops a queue that holds something.
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(poll_until(10s, [&] { return (m = c.poll(5ms)).has_value(); }));
    }
    next = m->offset + 1;
  }
  std::string all;
  for (const auto w : waits_ms) all += std::to_string(w) + " ";
  RecordProperty("resume_waits_ms", all);
  // One slow trial is allowed for a loaded machine; without the wake-up most
  // trials wait 100-1000 ms (the chance of 9 of 10 under 400 ms is < 0.2%).
  EXPECT_LE(slow, 1) << "ms from resume to the first message: " << all;
}

// After a rebalance the worker resumes every assigned partition, also those it
// never paused (librdkafka keeps a pause across a revoke and a later assign).
// librdkafka 2.0 restarts such a partition's fetch from where it was assigned
// (its issue #4686): everything since would be delivered a second time.
TEST_F(ConsumerTest, AResumeOfAPartitionThatIsNotPausedDeliversNothingTwice) {
  ASSERT_NO_FATAL_FAILURE(fill("n", 200));
  Consumer c(cluster.bootstraps(), "g-not-paused", {{"fetch.wait.max.ms", "10"}}, {});
  c.subscribe({"n"});
  std::optional<Message> m;
  int64_t next = 0;
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(poll_until(30s, [&] { return (m = c.poll(100ms)).has_value(); }));
    ASSERT_EQ(m->offset, next++);
  }
  c.resume(c.assignment());
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(poll_until(10s, [&] { return (m = c.poll(20ms)).has_value(); })) << "nothing after resume";
    ASSERT_EQ(m->offset, next++) << "the resume sent fetching back to an earlier offset";
  }
}

}  // namespace
}  // namespace lockstep
