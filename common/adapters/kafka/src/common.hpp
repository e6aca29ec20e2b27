#pragma once
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <string>

#include "lockstep/kafka.hpp"

namespace lockstep::kafka_detail {

// An error object of librdkafka's C++ API, with its own flags.
inline KafkaFailure kafka_failure(const RdKafka::Error& e) {
  KafkaFailure f;
  f.code = e.code();
  f.retriable = e.is_retriable();
  f.fatal = e.is_fatal();
  f.message = e.str();
  return f;
}
using lockstep::kafka_failure;

struct QueueDel {
  void operator()(rd_kafka_queue_t* q) const { rd_kafka_queue_destroy(q); }
};
using QueuePtr = std::unique_ptr<rd_kafka_queue_t, QueueDel>;

// Builds a global conf; throws KafkaError naming the property on a bad value.
// Values are never included in the message (they may be secrets).
inline std::unique_ptr<RdKafka::Conf> make_conf(const std::string& brokers, const KafkaProps& props) {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string err;
  auto set = [&](const std::string& k, const std::string& v) {
    if (conf->set(k, v, err) != RdKafka::Conf::CONF_OK)
      throw KafkaError("kafka.properties." + k + ": " + err);
  };
  set("bootstrap.servers", brokers);
  for (const auto& [k, v] : props) set(k, v);
  return conf;
}

inline void set_default(RdKafka::Conf& conf, const KafkaProps& props, const std::string& k, const std::string& v) {
  if (props.count(k)) return;
  std::string err;
  if (conf.set(k, v, err) != RdKafka::Conf::CONF_OK) throw KafkaError(k + ": " + err);
}

inline void force(RdKafka::Conf& conf, const std::string& k, const std::string& v) {
  std::string err;
  if (conf.set(k, v, err) != RdKafka::Conf::CONF_OK) throw KafkaError(k + ": " + err);
}

// One librdkafka log line (an EVENT_LOG event; `who` says which client) at
// the spdlog level of its syslog severity: emergency..error as error,
// warning as warn, notice and info as info, debug as debug.
inline void log_event(const char* who, RdKafka::Event& e) {
  const auto level = e.severity() <= RdKafka::Event::EVENT_SEVERITY_ERROR     ? spdlog::level::err
                     : e.severity() == RdKafka::Event::EVENT_SEVERITY_WARNING ? spdlog::level::warn
                     : e.severity() == RdKafka::Event::EVENT_SEVERITY_DEBUG   ? spdlog::level::debug
                                                                              : spdlog::level::info;
  spdlog::log(level, "{}: {} {}", who, e.fac(), e.str());
}

}  // namespace lockstep::kafka_detail
