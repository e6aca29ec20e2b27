// End-to-end helpers: run `lockstep run` as a real process, on `lockstep
// broker` (a development broker process) or the real Kafka node (TestKafka).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "lockstep/kafka.hpp"
#include "lockstep/test/kafka.hpp"
#include "lockstep/test/support.hpp"

namespace lockstep::test {

// A temp directory removed on destruction.
struct TempDir {
  TempDir();
  ~TempDir();
  std::string path;
};

// The Kafka of an end-to-end test: a `lockstep broker` child (its stderr in
// `log`) on the development broker, the real node with fresh topics otherwise.
TestKafka broker_for_e2e(const std::string& log, int partitions = 4);

// The shipped config with this Kafka (its address and topic names), database
// and metrics port, short group-session timeouts (so a SIGKILLed member leaves
// quickly) and quick retries.
std::string write_worker_config(const std::string& dir, const TestKafka& kafka, const std::string& db_url,
                                int metrics_port, const std::string& group);

std::unique_ptr<Process> start_worker(const std::string& config, const std::string& log);

// What an end-to-end test of one worker process starts from: a temp dir, a
// development broker, a scratch database, a free metrics port and the worker's
// config for them (group `<group_prefix><unique suffix>`).
struct WorkerSetup {
  explicit WorkerSetup(const std::string& group_prefix);
  TempDir dir;
  TestKafka broker;
  TestDb db;
  int port;
  std::string cfg_path;
};

// Events for `keys` aggregates from both topics (lifecycles that race), as messages.
struct Planned {
  std::vector<OutMessage> messages;
  std::vector<std::string> event_ids;  // distinct
};
Planned plan_race(const TestKafka& kafka, int keys, int seed);

std::string read_file(const std::string& path);

}  // namespace lockstep::test
