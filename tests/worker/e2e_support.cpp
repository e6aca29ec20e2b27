#include "e2e_support.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "lockstep/config.hpp"

namespace lockstep::test {

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "lockstep-test-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  if (!env("LOCKSTEP_KEEP_TEST_DIRS")) std::filesystem::remove_all(path, ec);
}

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TestKafka broker_for_e2e(const std::string& log, int partitions) {
  TestKafka::Options o;
  o.partitions = partitions;
  o.process_log = log;
  return TestKafka(o);
}

namespace {
void replace_once(std::string& s, const std::string& from, const std::string& to) {
  auto p = s.find(from);
  if (p == std::string::npos) throw std::runtime_error("config template lacks: " + from);
  s.replace(p, from.size(), to);
}
}  // namespace

std::string write_worker_config(const std::string& dir, const TestKafka& kafka, const std::string& db_url,
                                int metrics_port, const std::string& group) {
  std::string y = kafka.rename_topics(builtin_config_text());
  replace_once(y, "brokers: localhost:9092", "brokers: \"" + kafka.bootstrap() + "\"");
  replace_once(y, "group_id: lockstep", "group_id: " + group);
  replace_once(y, "properties: {}",
               "properties:\n    session.timeout.ms: \"6000\"\n    heartbeat.interval.ms: \"500\"");
  replace_once(y, "url: postgresql://localhost/lockstep", "url: \"" + db_url + "\"");
  replace_once(y, "listen: 0.0.0.0:9464", "listen: 127.0.0.1:" + std::to_string(metrics_port));
  replace_once(y, "base_delay_ms: 10", "base_delay_ms: 2");
  replace_once(y, "max_delay_ms: 1000", "max_delay_ms: 50");
  replace_once(y, "max_attempts: 5", "max_attempts: 10");
  replace_once(y, "within this, 100..600000 ms.\n  timeout_ms: 10000", "within this, 100..600000 ms.\n  timeout_ms: 5000");
  const auto path = dir + "/lockstep.yaml";
  std::ofstream(path) << y;
  return path;
}

WorkerSetup::WorkerSetup(const std::string& group_prefix)
    : broker(broker_for_e2e(dir.path + "/broker.log")),
      port(free_port()),
      cfg_path(write_worker_config(dir.path, broker, db.url(), port, group_prefix + unique_suffix())) {}

std::unique_ptr<Process> start_worker(const std::string& config, const std::string& log) {
  return std::make_unique<Process>(std::vector<std::string>{bin_dir() + "/lockstep", "run", "--config", config},
                                   // The file is the whole configuration: no LOCKSTEP_* overrides from the test's environment.
                                   std::map<std::string, std::string>{{"LOCKSTEP_LOG_LEVEL", "info"},
                                                                      {"LOCKSTEP_DATABASE_URL", ""},
                                                                      {"LOCKSTEP_KAFKA_BROKERS", ""},
                                                                      {"LOCKSTEP_KAFKA_GROUP_ID", ""},
                                                                      {"LOCKSTEP_METRICS_LISTEN", ""}},
                                   log);
}

Planned plan_race(const TestKafka& kafka, int keys, int seed) {
  Planned p;
  std::mt19937 rng(static_cast<unsigned>(seed));
  const std::vector<std::string> bot = {"join", "verify", "activate", "edit", "suspend", "reinstate", "edit", "remove", "rejoin", "edit"};
  const std::vector<std::string> api = {"join", "edit", "override", "edit", "suspend", "edit", "reinstate", "remove", "edit", "override"};
  std::set<std::string> ids;
  for (std::size_t step = 0; step < bot.size(); ++step) {
    for (int side = 0; side < 2; ++side) {
      for (int k = 0; k < keys; ++k) {
        const std::string agg = "guild-" + std::to_string(k % 7) + "/user-" + std::to_string(k);
        const std::string id = std::string(side ? "a" : "b") + "-" + std::to_string(seed) + "-" + std::to_string(step) + "-" + std::to_string(k);
        const auto& tr = side ? api[step] : bot[step];
        std::string v = R"({"event_id":")" + id + R"(","aggregate_type":"membership","aggregate_id":")" + agg +
                        R"(","transition":")" + tr + R"(","actor":")" + (side ? "api" : "bot") + "\"";
        if (tr == "edit") v += R"(,"payload":{"k_)" + id + R"(":)" + std::to_string(step) + "}";
        if (rng() % 100 == 0) v += R"(,"expected_version":1)";
        v += "}";
        p.messages.push_back(OutMessage{side ? kafka.api() : kafka.bot(), "membership:" + agg, v, {}});
        ids.insert(id);
      }
    }
  }
  // ~1% duplicates (same event, re-sent) and a few malformed messages.
  const auto n = p.messages.size();
  for (std::size_t i = 0; i < n / 100; ++i) p.messages.push_back(p.messages[rng() % n]);
  for (int i = 0; i < 5; ++i) {
    p.messages.push_back(OutMessage{kafka.bot(), std::nullopt, "garbage-" + std::to_string(i), {}});
  }
  p.event_ids.assign(ids.begin(), ids.end());
  return p;
}

}  // namespace lockstep::test
