// Infrastructure faults: PostgreSQL stopped mid-stream (scripts/pgctl on the shared
// throwaway server, so this runs serially). The worker must invent no outcome,
// skip nothing, report not-ready, and resume by itself when the database returns.
#include <gtest/gtest.h>
#include <signal.h>

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
  TempDir dir;
  BrokerProcess broker(dir.path + "/broker.log");
  TestDb db;
  const int port = free_port();
  const auto cfg_path = write_worker_config(dir.path, broker.bootstrap(), db.url(), port, "fault-" + unique_suffix());
  const auto machines = parse_config(builtin_config_text(), "<built-in>").machines;

  auto first = plan_race(40, 1);
  auto second = plan_race(40, 2);
  Producer p(broker.bootstrap(), {});
  for (const auto& d : p.send(first.messages, 60s)) ASSERT_TRUE(d.error.empty()) << d.error;

  auto w = start_worker(cfg_path, dir.path + "/worker.log");
  const long expected_first = static_cast<long>(first.event_ids.size()) + 5;
  ASSERT_TRUE(poll_until(90s, [&] { return count(db, "SELECT count(*) FROM processed_events") >= expected_first; }))
      << read_file(dir.path + "/worker.log");
  ASSERT_TRUE(poll_until(30s, [&] { return http_get(port, "/readyz").first == 200; }));

  // Database down: the next events cannot get an outcome.
  struct Restart {  // never leave the shared server down, even when an assertion fails
    ~Restart() { pgctl("status") == 0 || pgctl("start"); }
  } restart;
  ASSERT_EQ(pgctl("stop"), 0);
  for (const auto& d : p.send(second.messages, 60s)) ASSERT_TRUE(d.error.empty()) << d.error;
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
  ASSERT_TRUE(poll_until(120s, [&] { return count(db, "SELECT count(*) FROM processed_events") >= expected; }))
      << count(db, "SELECT count(*) FROM processed_events") << " of " << expected << "\n"
      << read_file(dir.path + "/worker.log");
  EXPECT_EQ(count(db, "SELECT count(*) FROM processed_events"), expected);
  auto violations = invariant_violations(db, machines);
  EXPECT_TRUE(violations.empty()) << ::testing::PrintToString(violations);
  EXPECT_TRUE(poll_until(30s, [&] { return http_get(port, "/readyz").first == 200; })) << "ready again";
  EXPECT_TRUE(poll_until(10s, [&] { return metric_value(http_get(port, "/metrics").second, "lockstep_ready") == 1; }))
      << "lockstep_ready does not follow /readyz";

  w->signal(SIGTERM);
  EXPECT_EQ(w->wait(8s), 0) << [&] {
    const auto log = read_file(dir.path + "/worker.log");
    return log.substr(log.size() > 6000 ? log.size() - 6000 : 0);
  }();
}

}  // namespace
}  // namespace lockstep::test
