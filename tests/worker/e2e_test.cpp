// Real processes: `lockstep run` on `lockstep broker` or the real Kafka node, SIGKILLed mid-stream and
// restarted; afterwards every event has exactly one outcome and nothing was
// applied twice. Also: health endpoints, SIGTERM exit code, bad config exit 2.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "e2e_support.hpp"
#include "lockstep/config.hpp"
#include "lockstep/test/events.hpp"

namespace lockstep::test {
namespace {

using namespace std::chrono_literals;

class EndToEnd : public EndToEndTest {};

TEST_F(EndToEnd, SigkillMidStreamThenRestartGivesExactlyOneOutcomeEach) {
  auto plan = plan_race(kafka, 150, 7);
  {
    Producer p(kafka.bootstrap(), {});
    auto ds = p.send(plan.messages, 60s);
    for (const auto& d : ds) ASSERT_FALSE(d.error) << d.error.str();
  }
  const long expected = static_cast<long>(plan.event_ids.size()) + 5;  // + the malformed ones

  // Kill the worker three times at different points of the stream.
  long last = 0;
  int kills = 0;
  for (int round = 0; round < 3; ++round) {
    auto w = start_worker();
    const long target = last + 150;
    ASSERT_TRUE(poll_until(90s, [&] { return count("SELECT count(*) FROM processed_events") >= target || !w->running(); }))
        << "no progress in round " << round << "; log:\n" << read_file(path("worker.log"));
    ASSERT_TRUE(w->running()) << read_file(path("worker.log"));
    w->signal(SIGKILL);
    ASSERT_EQ(w->wait(10s), 128 + SIGKILL);
    ++kills;
    last = count("SELECT count(*) FROM processed_events");
    ASSERT_LT(last, expected) << "the worker finished before it was killed: the test needs a longer stream";
  }

  auto w = start_worker();
  ASSERT_TRUE(poll_until(120s, [&] { return count("SELECT count(*) FROM processed_events") >= expected; }))
      << count("SELECT count(*) FROM processed_events") << " of " << expected << " outcomes; log:\n"
      << read_file(path("worker.log"));
  EXPECT_EQ(kills, 3);
  EXPECT_EQ(count("SELECT count(*) FROM processed_events"), expected) << "exactly one outcome per event";
  EXPECT_EQ(count("SELECT count(*) FROM dead_letters WHERE reason = 'malformed'"), 5);
  auto violations = invariant_violations(db, cfg.machines);
  EXPECT_TRUE(violations.empty()) << ::testing::PrintToString(violations);

  // Health endpoints of the surviving worker.
  ASSERT_TRUE(poll_until(30s, [&] { return http_get(port, "/readyz").first == 200; }));
  EXPECT_EQ(http_get(port, "/healthz").first, 200);
  auto metrics = http_get(port, "/metrics");
  EXPECT_EQ(metrics.first, 200);
  EXPECT_NE(metrics.second.find("lockstep_events_consumed_total"), std::string::npos);

  // Its threads carry the names of the pipeline's parts (top -H, perf, gdb).
  std::set<std::string> names;
  for (const auto& task : std::filesystem::directory_iterator("/proc/" + std::to_string(w->pid()) + "/task")) {
    std::string name;
    std::getline(std::ifstream(task.path() / "comm"), name);
    names.insert(name);
  }
  for (const std::string want : {"ls-consume", "ls-exec-0", "ls-commit", "ls-relay"})
    EXPECT_EQ(names.count(want), 1u) << want << " among " << ::testing::PrintToString(names);

  // Every dead letter was published (outbox drained) even across the kills.
  ASSERT_TRUE(poll_until(30s, [&] { return count("SELECT count(*) FROM dead_letters WHERE published_at IS NULL") == 0; }));

  // SIGTERM: clean exit 0 within shutdown.timeout_ms (5 s) plus process teardown.
  w->signal(SIGTERM);
  EXPECT_EQ(w->wait(8s), 0) << read_file(path("worker.log"));
}

// A value no Config can hold, so this one file is the shipped text with one
// value made wrong.
TEST_F(EndToEnd, BadConfigExitsTwoNamingTheKey) {
  if (on_real_broker()) GTEST_SKIP() << "touches no Kafka";
  const auto bad = path("bad.yaml");
  std::string y = builtin_config_text();
  y.replace(y.find("max_attempts: 5"), 15, "max_attempts: lots");
  std::ofstream(bad) << y;
  Process p({bin_dir() + "/lockstep", "run", "--config", bad}, {}, dir.path + "/err.log");
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

// Secrets come from the environment and files and never reach the logs (at
// debug level), /metrics or dead-letter messages; payload values never reach
// the logs or /metrics (dead-letter messages carry the event, by contract).
// A configured topic the cluster does not have is named at start-up (with the
// command that creates it), not waited for in silence, and the worker carries
// on with the topics that exist. Here the dead-letter topic: the development
// broker creates a missing input topic as soon as a consumer subscribes to it,
// so the input case is tested on a real Kafka (topics_cli_test).
TEST_F(EndToEnd, AMissingTopicIsNamedAtStartUp) {
  cfg.kafka.dead_letter_topic = "transitions.nowhere";
  const std::string log = path("worker.log");
  auto w = start_worker();
  const auto said = [&](const std::string& text) { return read_file(log).find(text) != std::string::npos; };
  EXPECT_TRUE(poll_until(30s, [&] {
    return said("the dead-letter topic transitions.nowhere does not exist on the cluster: dead letters are kept in "
                "the table but not published until it is created (`lockstep topics ensure` creates every "
                "configured topic");
  })) << read_file(log);
  EXPECT_FALSE(said("topic " + kafka.bot() + " does not exist")) << read_file(log);

  // The topics that exist are consumed meanwhile.
  {
    Producer p(kafka.bootstrap(), {});
    OutMessage m{kafka.bot(), std::string("membership:m1"), event_json("m-1", "m1", "join"), {}};
    for (const auto& d : p.send({m}, 10s)) ASSERT_FALSE(d.error) << d.error.str();
  }
  EXPECT_TRUE(poll_until(30s, [&] {
    return count("SELECT count(*) FROM processed_events WHERE event_id = 'm-1'") == 1;
  })) << read_file(log);
  w->signal(SIGTERM);
  EXPECT_EQ(w->wait(20s), 0) << read_file(log);
}

TEST_F(EndToEnd, PasswordsAndPayloadsNeverReachLogsMetricsOrDeadLetters) {
  const auto& broker = kafka;
  const std::string db_password = "pw-7Hq2-db-secret";
  const std::string kafka_password = "pw-9Zx4-kafka-secret";
  std::string url = db.url();  // postgresql://user@host:port/db; the test server trusts any password
  url.insert(url.find('@'), ":" + db_password);
  // The file has the SASL password (a librdkafka property) and a database URL
  // without one; the environment overrides the URL with the password in it.
  cfg.kafka.properties["sasl.username"] = "lockstep";
  cfg.kafka.properties["sasl.password"] = kafka_password;
  Process w({bin_dir() + "/lockstep", "run", "--config", write_worker_config(cfg)},
            {{"LOCKSTEP_LOG_LEVEL", "debug"}, {"LOCKSTEP_DATABASE_URL", url}, {"LOCKSTEP_KAFKA_BROKERS", ""},
             {"LOCKSTEP_KAFKA_GROUP_ID", ""}, {"LOCKSTEP_METRICS_LISTEN", ""}},
            dir.path + "/worker.log");

  const std::vector<std::string> payload_values = {"pv-applied-1f3", "pv-edit-8c2", "pv-invalid-4d9", "pv-stale-6b1",
                                                   "pv-malformed-2e7"};
  auto ev = [](const std::string& id, const std::string& tr, const std::string& value) {
    return event(id, "s1", tr).payload({{"note", value}});
  };
  auto truncated = [](const std::string& json) { return json.substr(0, json.size() - 2); };  // keeps the value
  {
    Producer p(broker.bootstrap(), {});
    const std::string key = "membership:s1";
    for (const auto& m : std::vector<OutMessage>{
             {broker.bot(), key, ev("s-1", "join", payload_values[0]), {}},
             {broker.bot(), key, ev("s-2", "edit", payload_values[1]), {}},
             {broker.bot(), key, ev("s-3", "reinstate", payload_values[2]), {}},                       // invalid
             {broker.bot(), key, ev("s-4", "edit", payload_values[3]).expected_version(0), {}},  // stale
             {broker.bot(), key, truncated(ev("s-5", "edit", payload_values[4])), {}},           // malformed
         }) {
      const auto d = p.send({m}, 30s);
      ASSERT_FALSE(d[0].error) << d[0].error.str();
    }
  }
  ASSERT_TRUE(poll_until(60s, [&] {
    return count("SELECT count(*) FROM processed_events") == 5 &&
           count("SELECT count(*) FROM dead_letters WHERE published_at IS NULL") == 0;
  })) << read_file(dir.path + "/worker.log");
  EXPECT_EQ(count("SELECT count(*) FROM dead_letters"), 3);
  const auto metrics = http_get(port, "/metrics");
  ASSERT_EQ(metrics.first, 200);
  const auto dead = read_topics(broker.bootstrap(), {}, {broker.dlq()}, 30s);
  ASSERT_EQ(dead.size(), 3u);
  w.signal(SIGTERM);
  EXPECT_EQ(w.wait(15s), 0);

  const auto log = read_file(dir.path + "/worker.log");
  ASSERT_NE(log.find(" debug "), std::string::npos) << "the log is not at debug level: the test would prove nothing";
  for (const auto& secret : {db_password, kafka_password}) {
    EXPECT_EQ(log.find(secret), std::string::npos) << "a password in the log";
    EXPECT_EQ(metrics.second.find(secret), std::string::npos) << "a password in /metrics";
    for (const auto& m : dead) {
      EXPECT_EQ(m.value.find(secret), std::string::npos) << "a password in a dead-letter message";
      for (const auto& h : m.headers) EXPECT_EQ(h.value.value_or("").find(secret), std::string::npos) << h.name;
    }
  }
  for (const auto& value : payload_values) {
    EXPECT_EQ(log.find(value), std::string::npos) << "a payload value in the log: " << value;
    EXPECT_EQ(metrics.second.find(value), std::string::npos) << "a payload value in /metrics: " << value;
  }
}

TEST_F(EndToEnd, EmitReportsEachDeliveryAndRejectsBadLines) {
  const auto& broker = kafka;
  const auto in = dir.path + "/events.jsonl";
  std::ofstream(in) << event_json("e1", "u1", "join") << "\n"
                    << "\n"
                    << event_json("e2", "u2", "join") << "\n"
                    << R"({"event_id":"e3","aggregate_type":"membership"})" << "\n";
  Process e({bin_dir() + "/lockstep", "emit", "--topic", broker.bot(), in},
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
  c.subscribe({broker.bot()});
  std::vector<Message> got;
  ASSERT_TRUE(poll_until(30s, [&] {
    if (auto m = c.poll(100ms)) got.push_back(*m);
    return got.size() == 2;
  }));
  for (const auto& m : got) EXPECT_TRUE(m.key == "membership:u1" || m.key == "membership:u2");
}

}  // namespace
}  // namespace lockstep::test
