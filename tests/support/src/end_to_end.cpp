#include "lockstep/test/end_to_end.hpp"

namespace lockstep::test {
namespace {

TestKafka::Options kafka_options(const EndToEndTest::Options& o, const TempDir& dir) {
  TestKafka::Options k;
  k.nodes = o.nodes;
  k.partitions = o.partitions;
  if (o.broker == EndToEndTest::Broker::process) k.process_log = dir.path + "/broker.log";
  return k;
}

}  // namespace

Config worker_config(const TestKafka& kafka, const std::string& db_url, int metrics_port, const std::string& group) {
  Config c = builtin_config();
  c.kafka.brokers = kafka.bootstrap();
  c.kafka.group_id = group;
  for (auto& t : c.kafka.topics) t.topic = kafka.topic(t.topic);
  c.kafka.dead_letter_topic = kafka.topic(c.kafka.dead_letter_topic);
  c.kafka.properties = {{"session.timeout.ms", "6000"}, {"heartbeat.interval.ms", "500"}};
  c.database.url = db_url;
  c.metrics_listen = "127.0.0.1:" + std::to_string(metrics_port);
  c.retry.base_delay_ms = 2;
  c.retry.max_delay_ms = 50;
  c.retry.max_attempts = 10;
  c.shutdown_timeout_ms = 5000;
  return c;
}

std::unique_ptr<Process> start_worker(const std::string& config, const std::string& log) {
  return std::make_unique<Process>(std::vector<std::string>{bin_dir() + "/lockstep", "run", "--config", config},
                                   std::map<std::string, std::string>{{"LOCKSTEP_LOG_LEVEL", "info"},
                                                                      {"LOCKSTEP_DATABASE_URL", ""},
                                                                      {"LOCKSTEP_KAFKA_BROKERS", ""},
                                                                      {"LOCKSTEP_KAFKA_GROUP_ID", ""},
                                                                      {"LOCKSTEP_METRICS_LISTEN", ""}},
                                   log);
}

EndToEndTest::EndToEndTest(const Options& o)
    : kafka(kafka_options(o, dir)),
      port(free_port()),
      cfg(worker_config(kafka, db.url(), port, o.group_prefix + unique_suffix())) {}

std::string EndToEndTest::write_worker_config(const Config& c, const std::string& name) const {
  return write_config(c, path(name));
}

std::unique_ptr<Process> EndToEndTest::start_worker(const std::string& log) const {
  return test::start_worker(write_worker_config(cfg), path(log));
}

}  // namespace lockstep::test
