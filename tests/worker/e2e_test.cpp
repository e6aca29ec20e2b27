// Real processes: `lockstep broker` + `lockstep run`, SIGKILLed mid-stream and
// restarted; afterwards every event has exactly one outcome and nothing was
// applied twice. Also: health endpoints, SIGTERM exit code, bad config exit 2.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>

#include "e2e_support.hpp"
#include "lockstep/config.hpp"

namespace lockstep::test {
namespace {

using namespace std::chrono_literals;

long count(const TestDb& db, const std::string& sql) { return std::stol(db.scalar(sql)); }

TEST(EndToEnd, SigkillMidStreamThenRestartGivesExactlyOneOutcomeEach) {
  TempDir dir;
  BrokerProcess broker(dir.path + "/broker.log");
  TestDb db;
  const int port = free_port();
  const auto cfg_path = write_worker_config(dir.path, broker.bootstrap(), db.url(), port, "e2e-" + unique_suffix());
  const auto machines = parse_config(builtin_config_text(), "<built-in>").machines;

  auto plan = plan_race(150, 7);
  {
    Producer p(broker.bootstrap(), {});
    auto ds = p.send(plan.messages, 60s);
    for (const auto& d : ds) ASSERT_TRUE(d.error.empty()) << d.error;
  }
  const long expected = static_cast<long>(plan.event_ids.size()) + 5;  // + the malformed ones

  // Kill the worker three times at different points of the stream.
  long last = 0;
  int kills = 0;
  for (int round = 0; round < 3; ++round) {
    auto w = start_worker(cfg_path, dir.path + "/worker.log");
    const long target = last + 150;
    ASSERT_TRUE(poll_until(90s, [&] { return count(db, "SELECT count(*) FROM processed_events") >= target || !w->running(); }))
        << "no progress in round " << round << "; log:\n" << read_file(dir.path + "/worker.log");
    ASSERT_TRUE(w->running()) << read_file(dir.path + "/worker.log");
    w->signal(SIGKILL);
    ASSERT_EQ(w->wait(10s), 128 + SIGKILL);
    ++kills;
    last = count(db, "SELECT count(*) FROM processed_events");
    ASSERT_LT(last, expected) << "the worker finished before it was killed: the test needs a longer stream";
  }

  auto w = start_worker(cfg_path, dir.path + "/worker.log");
  ASSERT_TRUE(poll_until(120s, [&] { return count(db, "SELECT count(*) FROM processed_events") >= expected; }))
      << count(db, "SELECT count(*) FROM processed_events") << " of " << expected << " outcomes; log:\n"
      << read_file(dir.path + "/worker.log");
  EXPECT_EQ(kills, 3);
  EXPECT_EQ(count(db, "SELECT count(*) FROM processed_events"), expected) << "exactly one outcome per event";
  EXPECT_EQ(count(db, "SELECT count(*) FROM dead_letters WHERE reason = 'malformed'"), 5);
  auto violations = invariant_violations(db, machines);
  EXPECT_TRUE(violations.empty()) << ::testing::PrintToString(violations);

  // Health endpoints of the surviving worker.
  ASSERT_TRUE(poll_until(30s, [&] { return http_get(port, "/readyz").first == 200; }));
  EXPECT_EQ(http_get(port, "/healthz").first, 200);
  auto metrics = http_get(port, "/metrics");
  EXPECT_EQ(metrics.first, 200);
  EXPECT_NE(metrics.second.find("lockstep_events_consumed_total"), std::string::npos);

  // Every dead letter was published (outbox drained) even across the kills.
  ASSERT_TRUE(poll_until(30s, [&] { return count(db, "SELECT count(*) FROM dead_letters WHERE published_at IS NULL") == 0; }));

  // SIGTERM: clean exit 0 within shutdown.timeout_ms (5 s) plus process teardown.
  w->signal(SIGTERM);
  EXPECT_EQ(w->wait(8s), 0) << read_file(dir.path + "/worker.log");
}

TEST(EndToEnd, BadConfigExitsTwoNamingTheKey) {
  TempDir dir;
  const auto path = dir.path + "/bad.yaml";
  std::string y = builtin_config_text();
  y.replace(y.find("max_attempts: 5"), 15, "max_attempts: lots");
  std::ofstream(path) << y;
  Process p({bin_dir() + "/lockstep", "run", "--config", path}, {}, dir.path + "/err.log");
  EXPECT_EQ(p.wait(30s), 2);
  EXPECT_NE(read_file(dir.path + "/err.log").find("retry.max_attempts"), std::string::npos);

  Process q({bin_dir() + "/lockstep", "run", "--config", dir.path + "/missing.yaml"}, {}, dir.path + "/err2.log");
  EXPECT_EQ(q.wait(30s), 2);

  Process r({bin_dir() + "/lockstep", "run"}, {{"LOCKSTEP_DATABASE_URL", "mysql://root:hunter2@db/x"}},
            dir.path + "/err3.log");
  EXPECT_EQ(r.wait(30s), 2);
  const auto err3 = read_file(dir.path + "/err3.log");
  EXPECT_NE(err3.find("database.url"), std::string::npos) << err3;
  EXPECT_EQ(err3.find("hunter2"), std::string::npos) << "secrets are never printed";
}

TEST(EndToEnd, EmitReportsEachDeliveryAndRejectsBadLines) {
  TempDir dir;
  BrokerProcess broker(dir.path + "/broker.log", 2);
  const auto in = dir.path + "/events.jsonl";
  std::ofstream(in) << R"({"event_id":"e1","aggregate_type":"membership","aggregate_id":"u1","transition":"join"})" << "\n"
                    << "\n"
                    << R"({"event_id":"e2","aggregate_type":"membership","aggregate_id":"u2","transition":"join"})" << "\n"
                    << R"({"event_id":"e3","aggregate_type":"membership"})" << "\n";
  Process e({bin_dir() + "/lockstep", "emit", "--topic", "transitions.bot", in},
            {{"LOCKSTEP_KAFKA_BROKERS", broker.bootstrap()}}, dir.path + "/emit.log");
  std::vector<std::string> lines;
  while (auto l = e.read_line(30s)) lines.push_back(*l);
  EXPECT_EQ(e.wait(30s), 1) << "a rejected line makes the exit code non-zero";
  ASSERT_EQ(lines.size(), 3u) << ::testing::PrintToString(lines);
  int delivered = 0, rejected = 0;
  for (const auto& l : lines) {
    if (l.rfind("delivered ", 0) == 0) ++delivered;
    if (l.rfind("rejected line=4", 0) == 0) ++rejected;
  }
  EXPECT_EQ(delivered, 2);
  EXPECT_EQ(rejected, 1);

  // Keys are aggregate_type:aggregate_id.
  Consumer c(broker.bootstrap(), "emit-check-" + unique_suffix(), {}, {});
  c.subscribe({"transitions.bot"});
  std::vector<Message> got;
  ASSERT_TRUE(poll_until(30s, [&] {
    if (auto m = c.poll(100ms)) got.push_back(*m);
    return got.size() == 2;
  }));
  for (const auto& m : got) EXPECT_TRUE(m.key == "membership:u1" || m.key == "membership:u2");
}

}  // namespace
}  // namespace lockstep::test
