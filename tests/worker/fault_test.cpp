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

long count(const TestDb& db, const std::string& sql) { return std::stol(db.scalar(sql)); }

int pgctl(const std::string& what) {
  auto ctl = env("LOCKSTEP_PGCTL");
  if (!ctl) {
    ADD_FAILURE() << "LOCKSTEP_PGCTL is not set: run the suite through scripts/test";
    return -1;
  }
  return std::system((*ctl + " " + what + " >/dev/null 2>&1").c_str());
}

TEST(Faults, DatabaseStoppedMidStreamThenResumesByItself) {
  WorkerSetup setup("fault-");
  const auto machines = parse_config(builtin_config_text(), "<built-in>").machines;

  auto first = plan_race(40, 1);
  auto second = plan_race(40, 2);
  Producer p(setup.broker.bootstrap(), {});
  for (const auto& d : p.send(first.messages, 60s)) ASSERT_TRUE(d.error.empty()) << d.error;

  auto w = start_worker(setup.cfg_path, setup.dir.path + "/worker.log");
  const long expected_first = static_cast<long>(first.event_ids.size()) + 5;
  ASSERT_TRUE(poll_until(90s, [&] { return count(setup.db, "SELECT count(*) FROM processed_events") >= expected_first; }))
      << read_file(setup.dir.path + "/worker.log");
  ASSERT_TRUE(poll_until(30s, [&] { return http_get(setup.port, "/readyz").first == 200; }));

  // Database down: the next events cannot get an outcome.
  struct Restart {  // never leave the shared server down, even when an assertion fails
    ~Restart() { pgctl("status") == 0 || pgctl("start"); }
  } restart;
  ASSERT_EQ(pgctl("stop"), 0);
  for (const auto& d : p.send(second.messages, 60s)) ASSERT_TRUE(d.error.empty()) << d.error;
  EXPECT_TRUE(poll_until(60s, [&] { return http_get(setup.port, "/readyz").first == 503; })) << "worker stayed ready";
  EXPECT_TRUE(poll_until(10s, [&] { return metric_value(http_get(setup.port, "/metrics").second, "lockstep_ready") == 0; }))
      << "lockstep_ready does not follow /readyz";
  auto m = http_get(setup.port, "/metrics");
  EXPECT_GT(metric_value(m.second, "lockstep_infrastructure_errors_total{component=\"database\"}"), 0) << m.second;
  EXPECT_TRUE(poll_until(30s, [&] {
    return metric_value(http_get(setup.port, "/metrics").second, "lockstep_inflight_events") > 0;
  })) << "the events that could not be applied must stay in flight";
  EXPECT_TRUE(w->running()) << "a database fault must not kill the worker";

  // Database back: everything resumes without operator action.
  ASSERT_EQ(pgctl("start"), 0);
  const long expected = expected_first + static_cast<long>(second.event_ids.size()) + 5;
  ASSERT_TRUE(poll_until(120s, [&] { return count(setup.db, "SELECT count(*) FROM processed_events") >= expected; }))
      << count(setup.db, "SELECT count(*) FROM processed_events") << " of " << expected << "\n"
      << read_file(setup.dir.path + "/worker.log");
  EXPECT_EQ(count(setup.db, "SELECT count(*) FROM processed_events"), expected);
  auto violations = invariant_violations(setup.db, machines);
  EXPECT_TRUE(violations.empty()) << ::testing::PrintToString(violations);
  EXPECT_TRUE(poll_until(30s, [&] { return http_get(setup.port, "/readyz").first == 200; })) << "ready again";
  EXPECT_TRUE(poll_until(10s, [&] { return metric_value(http_get(setup.port, "/metrics").second, "lockstep_ready") == 1; }))
      << "lockstep_ready does not follow /readyz";

  w->signal(SIGTERM);
  EXPECT_EQ(w->wait(8s), 0) << [&] {
    const auto log = read_file(setup.dir.path + "/worker.log");
    return log.substr(log.size() > 6000 ? log.size() - 6000 : 0);
  }();
}

// A database that hangs instead of refusing: every PostgreSQL process stopped
// (SIGSTOP). Connections stay open and nothing answers. The worker must say
// not-ready within seconds, be ready again by itself once the server runs, and
// stop within shutdown.timeout_ms on SIGTERM even while the server is frozen.
TEST(Faults, DatabaseFrozenIsNoticedInSecondsAndShutdownStaysInTime) {
  WorkerSetup setup("frozen-");
  const auto cfg = parse_config(read_file(setup.cfg_path), setup.cfg_path);
  ASSERT_EQ(cfg.database.timeout_ms, 10000) << "the default is what this test measures";
  const auto tail = [&](const std::string& file) {
    const auto log = read_file(file);
    return log.substr(log.size() > 6000 ? log.size() - 6000 : 0);
  };

  auto first = plan_race(30, 11);
  auto second = plan_race(30, 12);
  auto third = plan_race(30, 13);
  Producer p(setup.broker.bootstrap(), {});
  for (const auto& d : p.send(first.messages, 60s)) ASSERT_TRUE(d.error.empty()) << d.error;
  auto w = start_worker(setup.cfg_path, setup.dir.path + "/worker.log");
  long expected = static_cast<long>(first.event_ids.size()) + 5;
  ASSERT_TRUE(poll_until(90s, [&] { return count(setup.db, "SELECT count(*) FROM processed_events") >= expected; }))
      << tail(setup.dir.path + "/worker.log");
  ASSERT_TRUE(poll_until(30s, [&] { return http_get(setup.port, "/readyz").first == 200; }));

  struct Thaw {  // never leave the shared server frozen, even when an assertion fails
    ~Thaw() { pgctl("thaw"); }
  } thaw;
  // 1. Frozen while events arrive: not ready within 15 s, ready again after.
  ASSERT_EQ(pgctl("freeze"), 0);
  const auto frozen_at = std::chrono::steady_clock::now();
  for (const auto& d : p.send(second.messages, 60s)) ASSERT_TRUE(d.error.empty()) << d.error;
  ASSERT_TRUE(poll_until(30s, [&] { return http_get(setup.port, "/readyz").first == 503; })) << "stayed ready while frozen";
  const auto noticed = std::chrono::steady_clock::now() - frozen_at;
  std::printf("frozen database: /readyz 503 after %lld ms\n",
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(noticed).count()));
  EXPECT_LT(noticed, 15s) << "not-ready after "
                          << std::chrono::duration_cast<std::chrono::milliseconds>(noticed).count() << " ms";
  EXPECT_TRUE(w->running());
  ASSERT_EQ(pgctl("thaw"), 0);
  expected += static_cast<long>(second.event_ids.size()) + 5;
  ASSERT_TRUE(poll_until(120s, [&] { return count(setup.db, "SELECT count(*) FROM processed_events") >= expected; }))
      << count(setup.db, "SELECT count(*) FROM processed_events") << " of " << expected << "\n"
      << tail(setup.dir.path + "/worker.log");
  EXPECT_TRUE(poll_until(30s, [&] { return http_get(setup.port, "/readyz").first == 200; })) << "ready again by itself";

  // 2. SIGTERM while frozen, with events waiting on the database: exit 0 in time.
  ASSERT_EQ(pgctl("freeze"), 0);
  for (const auto& d : p.send(third.messages, 60s)) ASSERT_TRUE(d.error.empty()) << d.error;
  const double sent = static_cast<double>(first.messages.size() + second.messages.size() + third.messages.size());
  ASSERT_TRUE(poll_until(30s, [&] {
    const auto m = http_get(setup.port, "/metrics").second;
    return metric_value(m, "lockstep_events_consumed_total{topic=\"transitions.bot\"}") +
               metric_value(m, "lockstep_events_consumed_total{topic=\"transitions.api\"}") >=
           sent;
  })) << "the new events must be consumed and wait on the frozen database";
  const auto term_at = std::chrono::steady_clock::now();
  w->signal(SIGTERM);
  const auto rc = w->wait(std::chrono::milliseconds(cfg.shutdown_timeout_ms) + 3s);
  const auto took = std::chrono::steady_clock::now() - term_at;
  EXPECT_EQ(rc, 0) << "SIGTERM with a frozen database: exit " << (rc ? std::to_string(*rc) : "none") << " after "
                   << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms\n"
                   << tail(setup.dir.path + "/worker.log");
  if (!rc) w->signal(SIGKILL);

  // 3. Thawed and restarted: every event has exactly one outcome.
  ASSERT_EQ(pgctl("thaw"), 0);
  auto w2 = start_worker(setup.cfg_path, setup.dir.path + "/worker2.log");
  expected += static_cast<long>(third.event_ids.size()) + 5;
  ASSERT_TRUE(poll_until(120s, [&] { return count(setup.db, "SELECT count(*) FROM processed_events") >= expected; }))
      << count(setup.db, "SELECT count(*) FROM processed_events") << " of " << expected << "\n"
      << tail(setup.dir.path + "/worker2.log");
  EXPECT_EQ(count(setup.db, "SELECT count(*) FROM processed_events"), expected);
  auto violations = invariant_violations(setup.db, cfg.machines);
  EXPECT_TRUE(violations.empty()) << ::testing::PrintToString(violations);
  w2->signal(SIGTERM);
  EXPECT_EQ(w2->wait(15s), 0);
}

}  // namespace
}  // namespace lockstep::test
