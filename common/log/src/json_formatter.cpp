// LOCKSTEP_LOG_FORMAT=json: one JSON object per line, for log shippers.
//   {"ts":"2026-01-02T03:04:05.678Z","level":"info","logger":"lockstep","msg":"..."}
// nlohmann::json does the escaping (quotes, backslashes, control characters);
// bytes that are not UTF-8 become U+FFFD rather than breaking the line.
#include <spdlog/details/log_msg.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <ctime>

#include "lockstep/log.hpp"

namespace lockstep::logging {
namespace {

// RFC 3339 in UTC with milliseconds: 2026-01-02T03:04:05.678Z
std::string rfc3339_utc(spdlog::log_clock::time_point t) {
  using namespace std::chrono;
  const auto ms = duration_cast<milliseconds>(t.time_since_epoch());
  const auto secs = duration_cast<seconds>(ms);
  const std::time_t tt = static_cast<std::time_t>(secs.count());
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[96];  // room for any int the compiler can imagine
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>((ms - secs).count()));
  return buf;
}

class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    nlohmann::ordered_json j;
    j["ts"] = rfc3339_utc(msg.time);
    const auto level = spdlog::level::to_string_view(msg.level);
    j["level"] = std::string(level.data(), level.size());
    j["logger"] = std::string(msg.logger_name.data(), msg.logger_name.size());
    j["msg"] = std::string(msg.payload.data(), msg.payload.size());
    const std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    dest.append(line.data(), line.data() + line.size());
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(); }
};

}  // namespace

std::unique_ptr<spdlog::formatter> make_json_formatter() { return std::make_unique<JsonFormatter>(); }

}  // namespace lockstep::logging
