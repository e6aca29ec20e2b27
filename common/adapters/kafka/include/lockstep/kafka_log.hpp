// librdkafka's own log lines, routed into spdlog instead of librdkafka's
// default printer (`%3|1700000000.123|FAIL|rdkafka#producer-1| ...` on stderr).
//
// Every handle this library creates sends its lines here: the C++ handles
// through their EventCb (EVENT_LOG), the others (the mock cluster's, the
// topic reader's) through rd_kafka_conf_set_log_cb. A line goes to the spdlog
// logger `rdkafka` (lockstep::logging::setup installs it; when it is absent,
// to the default logger) as `rdkafka#producer-1 FAIL: <text>`, at the level of
// its syslog severity: 0-2 critical, 3 error, 4 warn, 5-6 info, 7 debug.
#pragma once

#include <spdlog/common.h>

#include <string_view>

struct rd_kafka_conf_s;  // rd_kafka_conf_t of <librdkafka/rdkafka.h>

namespace lockstep {

inline constexpr const char* kRdkafkaLoggerName = "rdkafka";

// The spdlog level of a syslog severity (librdkafka's log levels).
spdlog::level::level_enum rdkafka_log_level(int syslog_level);

// Logs one librdkafka line: `handle` is the client's name (rd_kafka_name),
// `facility` librdkafka's short tag (FAIL, CONFWARN, ...).
void log_rdkafka_line(std::string_view handle, int syslog_level, std::string_view facility, std::string_view text);

// Makes the handles created from `conf` (C API) log through log_rdkafka_line.
void route_rdkafka_logs(rd_kafka_conf_s* conf);

}  // namespace lockstep
