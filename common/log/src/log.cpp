// Setting up the process's log from LOCKSTEP_LOG_LEVEL and LOCKSTEP_LOG_FORMAT.
// A value that is not understood is a configuration error: silently logging
// less (or nothing) than asked for is worse than not starting.
#include <spdlog/logger.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <utility>

#include "lockstep/log.hpp"

namespace lockstep::logging {
namespace {

constexpr std::array<std::pair<const char*, spdlog::level::level_enum>, 8> kLevels = {{
    {"trace", spdlog::level::trace},
    {"debug", spdlog::level::debug},
    {"info", spdlog::level::info},
    {"warn", spdlog::level::warn},
    {"warning", spdlog::level::warn},
    {"error", spdlog::level::err},
    {"critical", spdlog::level::critical},
    {"off", spdlog::level::off},
}};

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// The value as given, quoted, with anything unprintable as \xNN.
std::string quoted(const std::string& value) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (const unsigned char c : value) {
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

[[noreturn]] void refuse(const char* variable, const std::string& value, const std::string& accepted) {
  throw ConfigError(variable, std::string(variable) + ": unknown value " + quoted(value) + " (accepted: " + accepted +
                                  "; any case)");
}

spdlog::level::level_enum parse_level(const std::optional<std::string>& value) {
  if (!value || value->empty()) return spdlog::level::info;
  const std::string v = lower(*value);
  for (const auto& [name, level] : kLevels) {
    if (v == name) return level;
  }
  refuse(kLevelVariable, *value, "trace, debug, info, warn (or warning), error, critical, off");
}

Format parse_format(const std::optional<std::string>& value) {
  if (!value || value->empty()) return Format::text;
  const std::string v = lower(*value);
  if (v == "text") return Format::text;
  if (v == "json") return Format::json;
  refuse(kFormatVariable, *value, "text, json");
}

}  // namespace

// Defined in json_formatter.cpp.
std::unique_ptr<spdlog::formatter> make_json_formatter();

Settings settings_from(const EnvLookup& env) {
  Settings s;
  if (!env) return s;
  s.level = parse_level(env(kLevelVariable));
  s.format = parse_format(env(kFormatVariable));
  return s;
}

std::unique_ptr<spdlog::formatter> make_formatter(Format format) {
  if (format == Format::json) return make_json_formatter();
  return std::make_unique<spdlog::pattern_formatter>("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
}

void setup(const EnvLookup& env, spdlog::sink_ptr sink) {
  const Settings s = settings_from(env);
  if (!sink) {
    if (s.format == Format::json) {
      sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    } else {
      sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    }
  }
  sink->set_formatter(make_formatter(s.format));
  sink->set_level(spdlog::level::trace);  // the loggers filter
  auto main = std::make_shared<spdlog::logger>("lockstep", sink);
  auto rdkafka = std::make_shared<spdlog::logger>(kRdkafkaLogger, sink);
  for (const auto& logger : {main, rdkafka}) {
    logger->set_level(s.level);
    logger->flush_on(spdlog::level::trace);
  }
  spdlog::drop(kRdkafkaLogger);
  spdlog::register_logger(rdkafka);
  spdlog::set_default_logger(main);  // replaces any earlier `lockstep`
}

}  // namespace lockstep::logging
