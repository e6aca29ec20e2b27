// What an end-to-end test starts from: a scratch directory, a Kafka (the
// development broker as a `lockstep broker` child or in process, or the real
// node: test::TestKafka), a scratch PostgreSQL database, a free metrics port,
// and the worker's configuration for them as a Config value (`cfg`), which a
// test changes as it needs and writes with write_worker_config() for the
// `lockstep` binary, or hands to a Worker in process.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "lockstep/config.hpp"
#include "lockstep/test/kafka.hpp"
#include "lockstep/test/support.hpp"

namespace lockstep::test {

// The shipped configuration on this Kafka (its address and topic names),
// database and metrics port (127.0.0.1), consumer group `group`, short
// group-session timeouts (a SIGKILLed member leaves quickly), quick retries
// and a 5 s shutdown.
Config worker_config(const TestKafka& kafka, const std::string& db_url, int metrics_port, const std::string& group);

// `lockstep run --config <config>`, its log at `log`. The file is the whole
// configuration: no LOCKSTEP_* override comes from the test's environment.
std::unique_ptr<Process> start_worker(const std::string& config, const std::string& log);

class EndToEndTest : public ::testing::Test {
 public:
  enum class Broker {
    process,     // a `lockstep broker` child, its log in dir/broker.log (tests may stop or freeze it)
    in_process,  // librdkafka's mock cluster in this process (fault injection: kafka.mock())
  };
  struct Options {
    Broker broker = Broker::process;
    int partitions = 4;  // of each input topic
    int nodes = 1;       // in process only
    std::string group_prefix = "e2e-";
  };

 protected:
  EndToEndTest() : EndToEndTest(Options{}) {}
  explicit EndToEndTest(const Options& o);

  std::string path(const std::string& name) const { return dir.path + "/" + name; }
  // Writes `c` as dir/<name>; its path.
  std::string write_worker_config(const Config& c, const std::string& name = "lockstep.yaml") const;
  // `lockstep run` on cfg, its log in dir/<log>.
  std::unique_ptr<Process> start_worker(const std::string& log = "worker.log") const;
  // The first column of the first row of a query on db, as a number.
  long count(const std::string& sql) const { return std::stol(db.scalar(sql)); }

  TempDir dir;
  TestKafka kafka;
  TestDb db;
  int port;    // the worker's metrics port
  Config cfg;  // worker_config(kafka, db.url(), port, <group_prefix><unique suffix>)
};

}  // namespace lockstep::test
