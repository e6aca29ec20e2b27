// Readiness: every signal can make the worker not ready; the publish stall
// check follows the oldest unacknowledged outcome and the relay's publish.
#include <gtest/gtest.h>

#include "runtime/readiness.hpp"

namespace lockstep::runtime {
namespace {

void make_ready(Readiness& r) {
  r.db_ok = true;
  r.joined = true;
  r.heard_from_broker();
}

TEST(ReadinessTest, ReadyOnlyWhenEverySignalSaysSo) {
  Readiness r;
  EXPECT_FALSE(r.ready()) << "the database has not answered yet";
  make_ready(r);
  EXPECT_TRUE(r.ready());
  const auto flips = {&r.db_stalled, &r.publish_stalled, &r.stopping};
  for (auto* flag : flips) {
    *flag = true;
    EXPECT_FALSE(r.ready());
    *flag = false;
  }
  for (auto* flag : {&r.db_ok, &r.relay_ok, &r.outcome_ok, &r.joined}) {
    *flag = false;
    EXPECT_FALSE(r.ready());
    *flag = true;
  }
  EXPECT_TRUE(r.ready());
}

// Each signal that makes the worker not ready is named in words, and only
// while it holds; ready() agrees with the list being empty.
TEST(ReadinessTest, NotReadySaysWhyInWords) {
  Readiness r;
  EXPECT_EQ(r.not_ready(), (std::vector<std::string>{"database not answering", "no partitions assigned"}));
  make_ready(r);
  EXPECT_TRUE(r.not_ready().empty());
  struct Case {
    std::atomic<bool>* flag;
    bool bad;  // the value that makes the worker not ready
    std::string why;
  };
  const std::vector<Case> cases = {{&r.db_ok, false, "database not answering"},
                                   {&r.db_stalled, true, "database call stalled"},
                                   {&r.relay_ok, false, "dead letters not reaching the broker"},
                                   {&r.outcome_ok, false, "outcome messages not reaching the broker"},
                                   {&r.publish_stalled, true, "outcome or dead-letter publish stalled"},
                                   {&r.joined, false, "no partitions assigned"},
                                   {&r.stopping, true, "stopping"}};
  for (const auto& c : cases) {
    *c.flag = c.bad;
    EXPECT_EQ(r.not_ready(), std::vector<std::string>{c.why});
    EXPECT_FALSE(r.ready());
    *c.flag = !c.bad;
  }
  EXPECT_TRUE(r.ready());
}

TEST(ReadinessTest, PublishStallFollowsTheOldestUnacknowledgedMessage) {
  Readiness r;
  make_ready(r);
  r.check_publish_stall(Clock::now() - milliseconds(kPublishStallMs - 1000), 0);
  EXPECT_FALSE(r.publish_stalled);
  r.check_publish_stall(Clock::now() - milliseconds(kPublishStallMs), 0);
  EXPECT_TRUE(r.publish_stalled);
  EXPECT_FALSE(r.ready());
  r.check_publish_stall(std::nullopt, 0);
  EXPECT_FALSE(r.publish_stalled) << "acknowledged again";
  r.check_publish_stall(std::nullopt, now_ms() - kPublishStallMs);
  EXPECT_TRUE(r.publish_stalled) << "the relay waits too long";
  r.check_publish_stall(std::nullopt, now_ms());
  EXPECT_FALSE(r.publish_stalled);
  EXPECT_TRUE(r.ready());
}

}  // namespace
}  // namespace lockstep::runtime
