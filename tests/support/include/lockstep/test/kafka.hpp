// Which Kafka a Kafka-facing test runs on. Each such test is registered twice
// (tests/CMakeLists.txt, lockstep_test(... BOTH_BROKERS)): once on the
// development broker (librdkafka's mock cluster, label "kafka") and once with
// LOCKSTEP_TEST_BROKER=real on the real Apache Kafka node of
// LOCKSTEP_TEST_KAFKA_BROKERS (label "kafka-real"), which every test of the
// run shares: there each test gets topics of its own.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lockstep/kafka.hpp"
#include "lockstep/test/support.hpp"

namespace lockstep::test {

// True when this test process runs on the real broker (LOCKSTEP_TEST_BROKER=real).
bool on_real_broker();

// The assignment strategies a group can use (partition.assignment.strategy):
// the eager ones and cooperative-sticky, and gtest's name for a test of one
// ("cooperative-sticky" -> "cooperative_sticky").
std::string strategy_name(const ::testing::TestParamInfo<std::string>& info);

// session.timeout.ms for a test whose group members join and leave often: the
// development broker waits that long less one second for every rebalance
// (librdkafka's mock group coordinator), so 2500 there; a real broker
// refuses less than its group.min.session.timeout.ms (6000 by default).
// Only for members whose rebalance callbacks return at once: a worker's
// revocation waits for running events and a final commit, and a slow build
// (ThreadSanitizer) would outlast 2.5 s and be dropped from the group.
std::string group_session_timeout_ms();

class TestKafka {
 public:
  struct Options {
    int nodes = 1;        // development broker only (the real one has what it has)
    int partitions = 4;   // of each input topic; the dead-letter topic gets 2
    // Development broker as a `lockstep broker` child (stderr to this log),
    // not in process: for tests that stop or freeze the broker process.
    std::optional<std::string> process_log;
  };
  TestKafka() : TestKafka(Options{}) {}
  explicit TestKafka(Options o);
  ~TestKafka();
  TestKafka(const TestKafka&) = delete;
  TestKafka& operator=(const TestKafka&) = delete;

  bool real() const { return real_; }
  const std::string& bootstrap() const { return bootstrap_; }
  // The topic a test uses for one of the shipped names (transitions.bot,
  // transitions.api, transitions.dlq, or any other): the name itself on the
  // development broker, the name with this fixture's suffix on the real one.
  std::string topic(const std::string& name) const;
  std::string bot() const { return topic("transitions.bot"); }
  std::string api() const { return topic("transitions.api"); }
  std::string dlq() const { return topic("transitions.dlq"); }
  // Creates topic(name) (RF 1); on the real broker it is deleted again on destruction.
  void create_topic(const std::string& name, int partitions);
  // The shipped configuration text with every topic name replaced by topic(name).
  std::string rename_topics(std::string config_yaml) const;

  // The in-process development broker, or nullptr (real broker, or a child process).
  MockCluster* mock() { return mock_.get(); }
  // The `lockstep broker` child, or nullptr.
  Process* process() { return process_.get(); }

 private:
  bool real_ = false;
  std::string suffix_;
  std::string bootstrap_;
  std::vector<std::string> created_;  // on the real broker, deleted on destruction
  std::unique_ptr<MockCluster> mock_;
  std::unique_ptr<Process> process_;
};

}  // namespace lockstep::test
