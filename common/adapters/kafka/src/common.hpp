#pragma once
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <string>

#include "lockstep/kafka.hpp"
#include "lockstep/kafka_log.hpp"

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
  route_rdkafka_logs(conf->c_ptr_global());  // handles without an EventCb (with one: HandleLog)
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

// The log lines of a C++ API handle, which arrive as EVENT_LOG events of its
// EventCb (librdkafka's C++ API installs its own log callback for those):
// sent on as `<handle name> <facility>: <text>` (see lockstep/kafka_log.hpp).
// The event does not say which handle logged, and the name (rdkafka#producer-3)
// is known only once create() has returned, while the handle's threads log
// from the start: so a line logged between creating() and named() waits
// (briefly, and never on the creating thread itself) for the name. Declare it
// before the handle it names, so that it outlives the handle's threads.
class HandleLog {
 public:
  explicit HandleLog(std::string fallback) : name_(std::move(fallback)) {}
  // On the thread about to create the handle.
  void creating();
  // Once the handle exists (or failed: then the fallback stays).
  void named(std::optional<std::string> name);
  void log(RdKafka::Event& e);

 private:
  std::mutex mu_;
  std::condition_variable known_cv_;
  bool known_ = true;
  std::thread::id creator_;
  std::string name_;
};

}  // namespace lockstep::kafka_detail
