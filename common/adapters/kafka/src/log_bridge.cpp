// librdkafka's log lines into spdlog (see lockstep/kafka_log.hpp).
#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include "common.hpp"
#include "lockstep/kafka_log.hpp"

namespace lockstep {
namespace {

void c_log_cb(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  log_rdkafka_line(rk != nullptr ? rd_kafka_name(rk) : "rdkafka", level, fac != nullptr ? fac : "",
                   buf != nullptr ? buf : "");
}

}  // namespace

spdlog::level::level_enum rdkafka_log_level(int syslog_level) {
  if (syslog_level <= 2) return spdlog::level::critical;  // emergency, alert, critical
  if (syslog_level == 3) return spdlog::level::err;
  if (syslog_level == 4) return spdlog::level::warn;
  if (syslog_level <= 6) return spdlog::level::info;  // notice, informational
  return spdlog::level::debug;
}

void log_rdkafka_line(std::string_view handle, int syslog_level, std::string_view facility, std::string_view text) {
  std::shared_ptr<spdlog::logger> logger = spdlog::get(kRdkafkaLoggerName);
  if (!logger) logger = spdlog::default_logger();
  if (!logger) return;
  logger->log(rdkafka_log_level(syslog_level), "{} {}: {}", handle, facility, text);
}

void route_rdkafka_logs(rd_kafka_conf_s* conf) { rd_kafka_conf_set_log_cb(conf, c_log_cb); }

namespace kafka_detail {

void HandleLog::creating() {
  std::lock_guard lk(mu_);
  known_ = false;
  creator_ = std::this_thread::get_id();
}

void HandleLog::named(std::optional<std::string> name) {
  {
    std::lock_guard lk(mu_);
    if (name) name_ = std::move(*name);
    known_ = true;
  }
  known_cv_.notify_all();
}

void HandleLog::log(RdKafka::Event& e) {
  std::string name;
  {
    std::unique_lock lk(mu_);
    if (!known_ && std::this_thread::get_id() != creator_) {
      known_cv_.wait_for(lk, std::chrono::milliseconds(500), [&] { return known_; });
    }
    name = name_;
  }
  log_rdkafka_line(name, static_cast<int>(e.severity()), e.fac(), e.str());
}

}  // namespace kafka_detail
}  // namespace lockstep
