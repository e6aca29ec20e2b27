#include "lockstep/test/kafka.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace lockstep::test {

namespace {

const char* const kShippedTopics[] = {"transitions.bot", "transitions.api", "transitions.dlq"};

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// A real-broker run without a broker skips every test, saying why (as the
// tests labelled kafka-real do; scripts/test reports its "kafka" stage).
// gtest then prints no per-test SKIPPED line: ctest recognises the run as
// skipped by this text (SKIP_REGULAR_EXPRESSION, tests/CMakeLists.txt).
class RealBrokerEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    if (on_real_broker() && !real_kafka_brokers())
      GTEST_SKIP() << "no real Kafka for this run: LOCKSTEP_TEST_BROKER=real without LOCKSTEP_TEST_KAFKA_BROKERS "
                      "(scripts/test starts a node; LOCKSTEP_REAL_KAFKA=0 leaves it out)";
  }
};

// Registered once per test binary that links TestKafka.
[[maybe_unused]] const auto* const kRealBrokerEnvironment =
    ::testing::AddGlobalTestEnvironment(new RealBrokerEnvironment);

}  // namespace

bool on_real_broker() { return env("LOCKSTEP_TEST_BROKER").value_or("dev") == "real"; }

std::string group_session_timeout_ms() { return on_real_broker() ? "6000" : "2500"; }

std::string strategy_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string n = info.param;
  std::replace(n.begin(), n.end(), '-', '_');
  return n;
}

TestKafka::TestKafka(Options o) : real_(on_real_broker()) {
  const int dlq_partitions = o.process_log ? o.partitions : 2;  // what `lockstep broker` creates
  if (real_) {
    const auto brokers = real_kafka_brokers();
    // Registered only where scripts/test started a node: without one, this
    // is a broken run, not a test to skip.
    if (!brokers) throw std::runtime_error("LOCKSTEP_TEST_BROKER=real needs LOCKSTEP_TEST_KAFKA_BROKERS");
    bootstrap_ = *brokers;
    suffix_ = unique_suffix();
    create_topic("transitions.bot", o.partitions);
    create_topic("transitions.api", o.partitions);
    create_topic("transitions.dlq", dlq_partitions);
  } else if (o.process_log) {
    process_ = std::make_unique<Process>(std::vector<std::string>{bin_dir() + "/lockstep", "broker", "--partitions",
                                                                  std::to_string(o.partitions)},
                                         std::map<std::string, std::string>{}, *o.process_log);
    const auto line = process_->read_line(std::chrono::seconds(30));
    if (!line || line->empty())
      throw std::runtime_error("lockstep broker printed no address; log: " + slurp(*o.process_log));
    bootstrap_ = *line;
  } else {
    mock_ = std::make_unique<MockCluster>(o.nodes);
    bootstrap_ = mock_->bootstraps();
    create_topic("transitions.bot", o.partitions);
    create_topic("transitions.api", o.partitions);
    create_topic("transitions.dlq", dlq_partitions);
  }
}

TestKafka::~TestKafka() {
  if (!real_ || created_.empty()) return;
  // The node may outlive the run (a developer's own): leave it as it was.
  try {
    Admin(bootstrap_, {}).remove(created_, std::chrono::seconds(10));
  } catch (const std::exception&) {
    // Best effort: a leftover topic of a unique name harms no other test.
  }
}

std::string TestKafka::topic(const std::string& name) const { return real_ ? name + "." + suffix_ : name; }

void TestKafka::create_topic(const std::string& name, int partitions) {
  if (mock_) {
    mock_->create_topic(topic(name), partitions);
    return;
  }
  if (!real_) throw std::logic_error("create_topic: `lockstep broker` creates its topics itself");
  Admin admin(bootstrap_, {});
  const auto errs = admin.create({NewTopic{topic(name), partitions, 1, {}}}, std::chrono::seconds(30));
  if (errs.at(0)) throw std::runtime_error("creating topic " + topic(name) + ": " + errs[0].str());
  created_.push_back(topic(name));
  // Every broker's metadata must know the topic before a producer or a group
  // member asks for it (a consumer would otherwise be assigned nothing of it).
  const bool known = poll_until(std::chrono::seconds(30), [&] {
    const auto d = admin.describe({topic(name)}, std::chrono::seconds(5));
    return !d.empty() && d[0].exists && d[0].partitions == partitions;
  });
  if (!known) throw std::runtime_error("topic " + topic(name) + " not in the metadata 30 s after its creation");
}

std::string TestKafka::rename_topics(std::string y) const {
  if (!real_) return y;
  for (const char* name : kShippedTopics) {
    // Whole names only: "transitions.bot" must not also match inside "transitions.bot.x".
    const std::string from = name;
    for (std::size_t p = y.find(from); p != std::string::npos; p = y.find(from, p)) {
      const std::size_t end = p + from.size();
      const bool whole = end == y.size() || !(std::isalnum(static_cast<unsigned char>(y[end])) || y[end] == '.' ||
                                              y[end] == '_' || y[end] == '-');
      if (whole) {
        y.replace(p, from.size(), topic(from));
        p += topic(from).size();
      } else {
        p = end;
      }
    }
  }
  return y;
}

}  // namespace lockstep::test
