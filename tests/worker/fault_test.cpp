// Infrastructure faults: PostgreSQL stopped mid-stream (scripts/pgctl on the shared
// throwaway server, so this runs serially). The worker must invent no outcome,
// skip nothing, report not-ready, and resume by itself when the database returns.
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>

#include "e2e_support.hpp"
#include "lockstep/config.hpp"

namespace lockstep::test {
namespace {

using namespace std::chrono_literals;

int pgctl(const std::string& what) {
  auto ctl = env("LOCKSTEP_PGCTL");
  if (!ctl) {
    ADD_FAILURE() << "LOCKSTEP_PGCTL is not set: run the suite through scripts/test";
    return -1;
  }
  return std::system((*ctl + " " + what + " >/dev/null 2>&1").c_str());
}

// ---- helpers of the frozen-service tests -------------------------------

using Clock = std::chrono::steady_clock;
long long ms_since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

std::string log_tail(const std::string& file) {
  const auto log = read_file(file);
  return log.substr(log.size() > 6000 ? log.size() - 6000 : 0);
}

// SIGTERM: exit 0 within shutdown.timeout_ms (plus process start-up slack).
void expect_stops_in_time(Process& w, int shutdown_timeout_ms, const char* what, const std::string& log) {
  const auto term_at = Clock::now();
  w.signal(SIGTERM);
  const auto rc = w.wait(std::chrono::milliseconds(shutdown_timeout_ms) + 3s);
  std::printf("%s: SIGTERM to exit in %lld ms (shutdown.timeout_ms %d)\n", what, ms_since(term_at),
              shutdown_timeout_ms);
  EXPECT_EQ(rc, 0) << "SIGTERM " << what << ": exit " << (rc ? std::to_string(*rc) : "none") << " after "
                   << ms_since(term_at) << " ms\n"
                   << log_tail(log);
  if (!rc) w.signal(SIGKILL);
}

class Faults : public EndToEndTest {
 protected:
  void send(const Planned& plan) {
    Producer p(kafka.bootstrap(), {});
    for (const auto& d : p.send(plan.messages, 60s)) ASSERT_FALSE(d.error) << d.error.str();
  }

  // The outcomes of `plan` (its events and its 5 malformed messages) are expected too.
  static long add_expected(long expected, const Planned& plan) { return expected + static_cast<long>(plan.event_ids.size()) + 5; }

  ::testing::AssertionResult outcomes_reach(long expected, const std::string& log) {
    const auto outcomes = [&] { return count("SELECT count(*) FROM processed_events"); };
    if (poll_until(120s, [&] { return outcomes() >= expected; })) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << outcomes() << " of " << expected << " outcomes\n" << log_tail(log);
  }

  // A worker process that has given the outcomes of `first` and is ready
  // (check HasFailure() after it).
  std::unique_ptr<Process> start_caught_up(const Planned& first, const std::string& log) {
    send(first);
    auto w = test::start_worker(write_worker_config(cfg), log);
    EXPECT_TRUE(outcomes_reach(add_expected(0, first), log));
    EXPECT_TRUE(poll_until(30s, [&] { return http_get(port, "/readyz").first == 200; })) << "never ready";
    return w;
  }

  // /readyz turns 503 after a fault began at `since`: within 15 s is the goal.
  void expect_not_ready_soon(Clock::time_point since, const char* what) {
    ASSERT_TRUE(poll_until(60s, [&] { return http_get(port, "/readyz").first == 503; }))
        << "stayed ready: " << what;
    const auto noticed = ms_since(since);
    std::printf("%s: /readyz 503 after %lld ms\n", what, noticed);
    EXPECT_LT(noticed, 15000) << what << ": not ready after " << noticed << " ms";
  }

  // A restarted worker gives every event exactly one outcome.
  void expect_restart_completes(long expected) {
    const auto log = path("worker2.log");
    auto w2 = test::start_worker(write_worker_config(cfg), log);
    // Ready first: the outcomes may all be there already, and a SIGTERM before
    // the process has set up its signal handling would end it with 143.
    ASSERT_TRUE(poll_until(60s, [&] { return http_get(port, "/readyz").first == 200; })) << log_tail(log);
    ASSERT_TRUE(outcomes_reach(expected, log));
    EXPECT_EQ(count("SELECT count(*) FROM processed_events"), expected);
    auto violations = invariant_violations(db, cfg.machines);
    EXPECT_TRUE(violations.empty()) << ::testing::PrintToString(violations);
    w2->signal(SIGTERM);
    EXPECT_EQ(w2->wait(15s), 0);
  }
};

TEST_F(Faults, DatabaseStoppedMidStreamThenResumesByItself) {
  auto first = plan_race(kafka, 40, 1);
  auto second = plan_race(kafka, 40, 2);
  Producer p(kafka.bootstrap(), {});
  for (const auto& d : p.send(first.messages, 60s)) ASSERT_FALSE(d.error) << d.error.str();

  auto w = start_worker();
  const long expected_first = static_cast<long>(first.event_ids.size()) + 5;
  ASSERT_TRUE(poll_until(90s, [&] { return count("SELECT count(*) FROM processed_events") >= expected_first; }))
      << read_file(path("worker.log"));
  ASSERT_TRUE(poll_until(30s, [&] { return http_get(port, "/readyz").first == 200; }));

  // Database down: the next events cannot get an outcome.
  struct Restart {  // never leave the shared server down, even when an assertion fails
    ~Restart() { pgctl("status") == 0 || pgctl("start"); }
  } restart;
  ASSERT_EQ(pgctl("stop"), 0);
  for (const auto& d : p.send(second.messages, 60s)) ASSERT_FALSE(d.error) << d.error.str();
  EXPECT_TRUE(poll_until(60s, [&] { return http_get(port, "/readyz").first == 503; })) << "worker stayed ready";
  EXPECT_TRUE(poll_until(10s, [&] { return metric_value(http_get(port, "/metrics").second, "lockstep_ready") == 0; }))
      << "lockstep_ready does not follow /readyz";
  auto m = http_get(port, "/metrics");
  EXPECT_GT(metric_value(m.second, "lockstep_infrastructure_errors_total{component=\"database\"}"), 0) << m.second;
  EXPECT_TRUE(poll_until(30s, [&] {
    return metric_value(http_get(port, "/metrics").second, "lockstep_inflight_events") > 0;
  })) << "the events that could not be applied must stay in flight";
  EXPECT_TRUE(w->running()) << "a database fault must not kill the worker";

  // Database back: everything resumes without operator action.
  ASSERT_EQ(pgctl("start"), 0);
  const long expected = expected_first + static_cast<long>(second.event_ids.size()) + 5;
  ASSERT_TRUE(poll_until(120s, [&] { return count("SELECT count(*) FROM processed_events") >= expected; }))
      << count("SELECT count(*) FROM processed_events") << " of " << expected << "\n"
      << read_file(path("worker.log"));
  EXPECT_EQ(count("SELECT count(*) FROM processed_events"), expected);
  auto violations = invariant_violations(db, cfg.machines);
  EXPECT_TRUE(violations.empty()) << ::testing::PrintToString(violations);
  EXPECT_TRUE(poll_until(30s, [&] { return http_get(port, "/readyz").first == 200; })) << "ready again";
  EXPECT_TRUE(poll_until(10s, [&] { return metric_value(http_get(port, "/metrics").second, "lockstep_ready") == 1; }))
      << "lockstep_ready does not follow /readyz";

  w->signal(SIGTERM);
  EXPECT_EQ(w->wait(8s), 0) << [&] {
    const auto log = read_file(path("worker.log"));
    return log.substr(log.size() > 6000 ? log.size() - 6000 : 0);
  }();
}

// A database that hangs instead of refusing: every PostgreSQL process stopped
// (SIGSTOP). Connections stay open and nothing answers. The worker must say
// not-ready within seconds, be ready again by itself once the server runs, and
// stop within shutdown.timeout_ms on SIGTERM even while the server is frozen.
TEST_F(Faults, DatabaseFrozenIsNoticedInSecondsAndShutdownStaysInTime) {
  ASSERT_EQ(cfg.database.timeout_ms, 10000) << "the default is what this test measures";
  const auto log = path("worker.log");
  auto first = plan_race(kafka, 30, 11);
  auto second = plan_race(kafka, 30, 12);
  auto third = plan_race(kafka, 30, 13);
  auto w = start_caught_up(first, log);
  ASSERT_FALSE(::testing::Test::HasFailure());
  long expected = add_expected(0, first);

  struct Thaw {  // never leave the shared server frozen, even when an assertion fails
    ~Thaw() { pgctl("thaw"); }
  } thaw;
  // 1. Frozen while events arrive: not ready within 15 s, ready again after.
  ASSERT_EQ(pgctl("freeze"), 0);
  const auto frozen_at = Clock::now();
  send(second);
  expect_not_ready_soon(frozen_at, "frozen database");
  EXPECT_TRUE(w->running());
  ASSERT_EQ(pgctl("thaw"), 0);
  expected = add_expected(expected, second);
  ASSERT_TRUE(outcomes_reach(expected, log));
  EXPECT_TRUE(poll_until(30s, [&] { return http_get(port, "/readyz").first == 200; })) << "ready again by itself";

  // 2. SIGTERM while frozen, with events waiting on the database: exit 0 in time.
  ASSERT_EQ(pgctl("freeze"), 0);
  send(third);
  const double sent = static_cast<double>(first.messages.size() + second.messages.size() + third.messages.size());
  ASSERT_TRUE(poll_until(30s, [&] {
    const auto m = http_get(port, "/metrics").second;
    return metric_value(m, "lockstep_events_consumed_total{topic=\"" + kafka.bot() + "\"}") +
               metric_value(m, "lockstep_events_consumed_total{topic=\"" + kafka.api() + "\"}") >=
           sent;
  })) << "the new events must be consumed and wait on the frozen database";
  expect_stops_in_time(*w, cfg.shutdown_timeout_ms, "with a frozen database", log);

  // 3. Thawed and restarted: every event has exactly one outcome.
  ASSERT_EQ(pgctl("thaw"), 0);
  expect_restart_completes(add_expected(expected, third));
}

// A broker that hangs instead of refusing: the development broker's process
// stopped (SIGSTOP). Its connections stay open and nothing answers. The worker
// must say not-ready within seconds, be ready again by itself after SIGCONT,
// and exit 0 on SIGTERM within shutdown.timeout_ms while the broker is frozen
// (it can neither commit nor leave the group then).
TEST_F(Faults, BrokerFrozenIsNoticedInSecondsAndShutdownStaysInTime) {
  if (on_real_broker())
    GTEST_SKIP() << "freezes the broker process, and the real node is shared by the run (scripts/chaos --kafka real "
                    "pauses real nodes)";
  const auto log = path("worker.log");
  auto first = plan_race(kafka, 30, 21);
  auto second = plan_race(kafka, 30, 22);
  auto w = start_caught_up(first, log);
  ASSERT_FALSE(::testing::Test::HasFailure());
  long expected = add_expected(0, first);

  auto& broker = *kafka.process();
  struct Thaw {  // never leave the broker stopped, even when an assertion fails
    Process& p;
    ~Thaw() { p.signal(SIGCONT); }
  } thaw{broker};
  // 1. Frozen: not ready within 15 s, ready again by itself after SIGCONT.
  broker.signal(SIGSTOP);
  expect_not_ready_soon(Clock::now(), "frozen broker");
  EXPECT_TRUE(w->running());
  broker.signal(SIGCONT);
  send(second);
  expected = add_expected(expected, second);
  ASSERT_TRUE(outcomes_reach(expected, log));
  EXPECT_TRUE(poll_until(60s, [&] { return http_get(port, "/readyz").first == 200; })) << "ready again by itself";

  // 2. SIGTERM while the broker is frozen: exit 0 in time.
  broker.signal(SIGSTOP);
  ASSERT_TRUE(poll_until(60s, [&] { return http_get(port, "/readyz").first == 503; }));
  expect_stops_in_time(*w, cfg.shutdown_timeout_ms, "with a frozen broker", log);

  // 3. Thawed and restarted: every event has exactly one outcome.
  broker.signal(SIGCONT);
  expect_restart_completes(expected);
}

}  // namespace
}  // namespace lockstep::test
