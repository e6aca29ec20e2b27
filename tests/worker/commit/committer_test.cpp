// Committer on the development broker: the group's position never passes an
// event without an outcome, the final commit is read back, and the
// confirmation after close moves a position that fell behind forward again.
// A stop cuts the committer thread's wait for a silent coordinator short.
#include <gtest/gtest.h>

#include <thread>

#include "commit/committer.hpp"
#include "lockstep/test/kafka.hpp"
#include "lockstep/test/support.hpp"
#include "parts_support.hpp"

namespace lockstep::runtime {
namespace {

using namespace std::chrono_literals;

class CommitterTest : public ::testing::Test {
 protected:
  int64_t committed(int32_t p) {
    Consumer reader(kafka.bootstrap(), cfg.kafka.group_id, {}, {});
    return reader.committed({{kafka.bot(), p}}, 5s).at(0).offset;
  }
  // Tracks offsets [0, n) of partition 0 and completes those in `done`.
  void consume(int64_t n, std::initializer_list<int64_t> done) {
    book.assign({{kafka.bot(), 0}});
    uint64_t g = 0;
    for (int64_t o = 0; o < n; ++o) g = *book.track(kafka.bot(), 0, o);
    for (const auto o : done) book.complete(*test::work_at(kafka.bot(), 0, o, g));
    generation = g;
  }

  test::TestKafka kafka;
  Config cfg = test::parts_config(kafka.bootstrap(), kafka.bot(), kafka.dlq());
  Metrics metrics;
  OffsetBook book;
  Consumer consumer{kafka.bootstrap(), cfg.kafka.group_id, {}, {}};
  std::atomic<bool> stopping{false}, stop{false};
  Committer committer{cfg.kafka, metrics, consumer, book, stopping, stop};
  uint64_t generation = 0;
};

TEST_F(CommitterTest, NeverCommitsPastAnIncompleteEvent) {
  consume(3, {0, 2});
  ASSERT_TRUE(committer.commit(false, nullptr, 5s));
  EXPECT_EQ(committed(0), 1) << "offset 1 has no outcome: the group must read it again";
  book.complete(*test::work_at(kafka.bot(), 0, 1, generation));
  ASSERT_TRUE(committer.commit(false, nullptr, 5s));
  EXPECT_EQ(committed(0), 3);
}

TEST_F(CommitterTest, FinalCommitIsReadBack) {
  consume(4, {0, 1});
  EXPECT_TRUE(committer.final_commit(Clock::now() + 10s));
  EXPECT_EQ(committed(0), 2);
  EXPECT_TRUE(committer.coordinator_has_positions(5s));
  // Something else moves the group's position: the read-back sees it.
  Consumer other(kafka.bootstrap(), cfg.kafka.group_id, {}, {});
  ASSERT_FALSE(other.commit({{kafka.bot(), 0, 1}}, false, 5s));
  EXPECT_FALSE(committer.coordinator_has_positions(5s));
  EXPECT_TRUE(committer.final_commit(Clock::now() + 10s));
  EXPECT_EQ(committed(0), 2);
}

TEST_F(CommitterTest, ConfirmAfterCloseMovesForwardNeverBack) {
  Consumer other(kafka.bootstrap(), cfg.kafka.group_id, {}, {});
  ASSERT_FALSE(other.commit({{kafka.bot(), 0, 2}, {kafka.bot(), 1, 9}}, false, 5s));
  committer.confirm_after_close({{kafka.bot(), 0, 5}, {kafka.bot(), 1, 4}}, Clock::now() + 10s);
  EXPECT_EQ(committed(0), 5) << "fell behind the final commit: moved forward";
  EXPECT_EQ(committed(1), 9) << "ahead of ours: left alone";
}

// A worker's shutdown joins the committer thread. That thread waits up to
// kCommitWaitMs for the answer to an earlier offset commit, and with a
// coordinator that does not answer, a stop once overran shutdown.timeout_ms
// by that wait (the kick that asks the thread to leave did not reach it).
TEST_F(CommitterTest, AStopCutsTheWaitForAnUnansweredCommitShort) {
  if (!kafka.mock()) GTEST_SKIP() << "needs the development broker's response delay";
  consume(4, {0});
  ASSERT_TRUE(committer.commit(false, nullptr, 5s));  // the coordinator is known
  kafka.mock()->set_rtt(1, 120s);
  book.complete(*test::work_at(kafka.bot(), 0, 1, generation));
  ASSERT_FALSE(committer.commit(false, nullptr, 300ms)) << "a commit nobody answered reported success";
  book.complete(*test::work_at(kafka.bot(), 0, 2, generation));

  std::thread loop([&] { committer.loop(); });
  struct Join {  // also when an assertion below returns early
    std::thread& t;
    std::atomic<bool>& stopping;
    Committer& c;
    ~Join() {
      if (!t.joinable()) return;
      stopping = true;
      c.kick();
      t.join();
    }
  } join{loop, stopping, committer};
  // The loop has taken position 3: its commit now waits for the unanswered one.
  ASSERT_TRUE(test::poll_until(10s, [&] {
    const auto r = book.rows();
    return r.at(0).last_sent == std::optional<int64_t>(3);
  }));
  const auto asked = Clock::now();
  stopping = true;
  committer.kick();
  loop.join();
  EXPECT_LT(Clock::now() - asked, 500ms) << "the committer thread kept waiting for the coordinator after the stop";
  kafka.mock()->set_rtt(1, 0ms);
}

}  // namespace
}  // namespace lockstep::runtime
