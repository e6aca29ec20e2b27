// fetch_verdict: pause at the in-flight limit, resume below half of it, and
// the faults that stop fetching only while events wait for them.
#include <gtest/gtest.h>

#include "consume/backpressure.hpp"

namespace lockstep::runtime {
namespace {

FetchSignals with_inflight(std::size_t n) {
  FetchSignals s;
  s.inflight = n;
  s.max_inflight = 100;
  return s;
}

TEST(BackpressureTest, PausesAtTheLimitAndResumesBelowHalf) {
  EXPECT_FALSE(fetch_verdict(with_inflight(99), false, "").want_pause);
  const auto at = fetch_verdict(with_inflight(100), false, "");
  EXPECT_TRUE(at.want_pause);
  EXPECT_EQ(at.reason, "backpressure");
  const auto between = fetch_verdict(with_inflight(50), true, "backpressure");
  EXPECT_FALSE(between.want_resume) << "50 is not below half of 100";
  EXPECT_EQ(between.reason, "backpressure") << "the reason stays while paused";
  EXPECT_TRUE(fetch_verdict(with_inflight(49), true, "backpressure").want_resume);
}

TEST(BackpressureTest, ADatabaseFaultPausesOnlyWhileEventsWait) {
  auto s = with_inflight(0);
  s.db_ok = false;
  EXPECT_FALSE(fetch_verdict(s, false, "").want_pause) << "nothing waits for the database";
  s.inflight = 1;
  const auto v = fetch_verdict(s, false, "");
  EXPECT_TRUE(v.want_pause);
  EXPECT_EQ(v.reason, "database");
  s.db_ok = true;
  s.db_stalled = true;
  EXPECT_EQ(fetch_verdict(s, false, "").reason, "database");
  EXPECT_FALSE(fetch_verdict(s, true, "database").want_resume);
}

TEST(BackpressureTest, BrokerFaults) {
  auto s = with_inflight(0);
  s.relay_ok = false;
  EXPECT_EQ(fetch_verdict(s, false, "").reason, "broker") << "dead letters wait, whatever is in flight";
  s = with_inflight(0);
  s.outcome_ok = false;
  EXPECT_FALSE(fetch_verdict(s, false, "").want_pause);
  s.inflight = 3;
  EXPECT_EQ(fetch_verdict(s, false, "").reason, "broker");
  s.outcome_ok = true;
  s.publish_stalled = true;
  EXPECT_TRUE(fetch_verdict(s, false, "").want_pause);
  s.publish_stalled = false;
  EXPECT_TRUE(fetch_verdict(s, true, "broker").want_resume);
}

}  // namespace
}  // namespace lockstep::runtime
