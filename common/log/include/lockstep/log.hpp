// The process's log: one stream on stderr, set up from the environment.
//
//   LOCKSTEP_LOG_LEVEL   trace|debug|info|warn|error|critical|off (any case,
//                        `warning` = warn); default info
//   LOCKSTEP_LOG_FORMAT  text (default): `2026-01-02T03:04:05.678 info message`
//                        json: one object per line: ts (RFC 3339, UTC, ms),
//                        level, logger, msg
//
// Two loggers share the sink: `lockstep` (the default logger) and `rdkafka`,
// which carries librdkafka's own log lines (see lockstep/kafka.hpp).
#pragma once

#include <spdlog/common.h>
#include <spdlog/formatter.h>

#include <memory>
#include <string>

#include "lockstep/config.hpp"

namespace lockstep::logging {

enum class Format { text, json };

struct Settings {
  spdlog::level::level_enum level = spdlog::level::info;
  Format format = Format::text;
};

inline constexpr const char* kLevelVariable = "LOCKSTEP_LOG_LEVEL";
inline constexpr const char* kFormatVariable = "LOCKSTEP_LOG_FORMAT";
// The logger librdkafka's lines go through.
inline constexpr const char* kRdkafkaLogger = "rdkafka";

// The settings the environment asks for. An unknown level or format throws
// ConfigError (key: the variable) naming the variable, the value and what is
// accepted; an unset or empty variable means the default.
Settings settings_from(const EnvLookup& env);

// The formatter of a format: text is `%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v`.
std::unique_ptr<spdlog::formatter> make_formatter(Format format);

// Installs the default logger `lockstep` and the logger `rdkafka`, both
// writing to `sink` (nullptr: stderr, coloured on a terminal for text) with
// the settings from `env` (e.g. lockstep::process_env()). Throws ConfigError
// as settings_from does, before changing anything. Call once at start-up,
// before other threads log.
void setup(const EnvLookup& env, spdlog::sink_ptr sink = nullptr);

}  // namespace lockstep::logging
