// lockstep::logging: LOCKSTEP_LOG_LEVEL and LOCKSTEP_LOG_FORMAT as the process
// reads them, and the JSON lines a log shipper gets.
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "capture_sink.hpp"
#include "lockstep/log.hpp"

namespace lockstep {
namespace {

using logging::Format;

EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> std::optional<std::string> {
    const auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

TEST(LogSettings, DefaultsAreInfoAndText) {
  const auto s = logging::settings_from(env_of({}));
  EXPECT_EQ(s.level, spdlog::level::info);
  EXPECT_EQ(s.format, Format::text);
  const auto empty = logging::settings_from(env_of({{"LOCKSTEP_LOG_LEVEL", ""}, {"LOCKSTEP_LOG_FORMAT", ""}}));
  EXPECT_EQ(empty.level, spdlog::level::info);
  EXPECT_EQ(empty.format, Format::text);
}

TEST(LogSettings, EveryAcceptedLevelInAnyCase) {
  const std::vector<std::pair<std::string, spdlog::level::level_enum>> cases = {
      {"trace", spdlog::level::trace},       {"TRACE", spdlog::level::trace},   {"debug", spdlog::level::debug},
      {"Debug", spdlog::level::debug},       {"info", spdlog::level::info},     {"INFO", spdlog::level::info},
      {"warn", spdlog::level::warn},         {"WARN", spdlog::level::warn},     {"warning", spdlog::level::warn},
      {"Warning", spdlog::level::warn},      {"error", spdlog::level::err},     {"ERROR", spdlog::level::err},
      {"critical", spdlog::level::critical}, {"CRITICAL", spdlog::level::critical},
      {"off", spdlog::level::off},           {"OFF", spdlog::level::off},
  };
  for (const auto& [value, level] : cases) {
    EXPECT_EQ(logging::settings_from(env_of({{"LOCKSTEP_LOG_LEVEL", value}})).level, level) << value;
  }
}

// The bug this replaces: an unknown level silently turned all logging off.
TEST(LogSettings, AnUnknownLevelIsAConfigErrorNamingTheVariableAndTheValue) {
  for (const std::string bad : {"inf", "err", "verbose", "3", "info ", "fatal"}) {
    try {
      logging::settings_from(env_of({{"LOCKSTEP_LOG_LEVEL", bad}}));
      ADD_FAILURE() << "accepted " << bad;
    } catch (const ConfigError& e) {
      const std::string what = e.what();
      EXPECT_EQ(e.key(), "LOCKSTEP_LOG_LEVEL");
      EXPECT_EQ(what.rfind("LOCKSTEP_LOG_LEVEL: ", 0), 0u) << what;
      EXPECT_NE(what.find("\"" + bad + "\""), std::string::npos) << what;
      for (const char* accepted : {"trace", "debug", "info", "warn", "warning", "error", "critical", "off"}) {
        EXPECT_NE(what.find(accepted), std::string::npos) << what;
      }
    }
  }
  try {
    logging::settings_from(env_of({{"LOCKSTEP_LOG_LEVEL", "in\nfo\x01"}}));
    ADD_FAILURE() << "accepted a control character";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("\"in\\x0afo\\x01\""), std::string::npos) << e.what();
  }
}

TEST(LogSettings, FormatTextOrJsonElseAConfigError) {
  EXPECT_EQ(logging::settings_from(env_of({{"LOCKSTEP_LOG_FORMAT", "text"}})).format, Format::text);
  EXPECT_EQ(logging::settings_from(env_of({{"LOCKSTEP_LOG_FORMAT", "json"}})).format, Format::json);
  EXPECT_EQ(logging::settings_from(env_of({{"LOCKSTEP_LOG_FORMAT", "JSON"}})).format, Format::json);
  try {
    logging::settings_from(env_of({{"LOCKSTEP_LOG_FORMAT", "logfmt"}}));
    ADD_FAILURE() << "accepted logfmt";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key(), "LOCKSTEP_LOG_FORMAT");
    EXPECT_EQ(std::string(e.what()), "LOCKSTEP_LOG_FORMAT: unknown value \"logfmt\" (accepted: text, json; any case)");
  }
}

// A logger with the JSON formatter: every line an object of exactly ts, level,
// logger and msg, whatever the message holds.
TEST(LogJson, OneParseableObjectPerLineWithEscaping) {
  auto sink = std::make_shared<test::CaptureSink>();
  sink->set_formatter(logging::make_formatter(Format::json));
  spdlog::logger logger("json-test", sink);
  logger.set_level(spdlog::level::trace);
  const std::vector<std::string> messages = {
      "plain", "a \"quoted\" word", "two\nlines", "tab\there, bell\x07, nul-free ctl \x1f", "back\\slash",
      "not utf-8: \xff\xfe", "{\"looks\": \"like json\"}"};
  for (const auto& m : messages) logger.warn("{}", m);
  logger.debug("at debug");

  const auto lines = lines_of(sink->text());
  ASSERT_EQ(lines.size(), messages.size() + 1) << sink->text();
  const std::regex ts(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)");
  for (std::size_t i = 0; i < lines.size(); ++i) {
    SCOPED_TRACE(lines[i]);
    const auto j = nlohmann::json::parse(lines[i]);  // throws (fails the test) if not JSON
    ASSERT_TRUE(j.is_object());
    EXPECT_EQ(j.size(), 4u);
    EXPECT_TRUE(std::regex_match(j.at("ts").get<std::string>(), ts));
    EXPECT_EQ(j.at("logger"), "json-test");
    if (i < messages.size()) {
      EXPECT_EQ(j.at("level"), "warning");
      if (messages[i].find('\xff') == std::string::npos) {
        EXPECT_EQ(j.at("msg"), messages[i]);
      } else {
        EXPECT_EQ(j.at("msg"), "not utf-8: \xEF\xBF\xBD\xEF\xBF\xBD");  // U+FFFD twice
      }
    } else {
      EXPECT_EQ(j.at("level"), "debug");
      EXPECT_EQ(j.at("msg"), "at debug");
    }
  }
  EXPECT_NE(lines[2].find(R"("two\nlines")"), std::string::npos);
  EXPECT_NE(lines[3].find(R"(\u0007)"), std::string::npos);
  EXPECT_NE(lines[3].find(R"(\u001f)"), std::string::npos);
}

TEST(LogJson, TimestampIsUtc) {
  auto sink = std::make_shared<test::CaptureSink>();
  sink->set_formatter(logging::make_formatter(Format::json));
  spdlog::logger logger("json-test", sink);
  const auto before = std::chrono::system_clock::now();
  logger.info("now");
  const auto j = nlohmann::json::parse(lines_of(sink->text()).at(0));
  std::tm tm{};
  std::istringstream in(j.at("ts").get<std::string>());
  in >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%S");
  ASSERT_FALSE(in.fail()) << j;
  const auto logged = std::chrono::system_clock::from_time_t(timegm(&tm));
  EXPECT_LT(std::chrono::abs(logged - before), std::chrono::seconds(5)) << j;
}

// setup(): the default logger and `rdkafka` on one sink, at the level and in
// the format asked for; a bad variable changes nothing.
TEST(LogSetup, InstallsBothLoggersOnOneSink) {
  auto sink = std::make_shared<test::CaptureSink>();
  logging::setup(env_of({{"LOCKSTEP_LOG_LEVEL", "Warning"}, {"LOCKSTEP_LOG_FORMAT", "json"}}), sink);
  spdlog::info("dropped");
  spdlog::warn("kept \"quoted\"");
  auto rdkafka = spdlog::get("rdkafka");
  ASSERT_TRUE(rdkafka);
  rdkafka->error("rdkafka#producer-1 FAIL: boom");
  rdkafka->info("dropped too");

  const auto lines = lines_of(sink->text());
  ASSERT_EQ(lines.size(), 2u) << sink->text();
  const auto first = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(first.at("logger"), "lockstep");
  EXPECT_EQ(first.at("level"), "warning");
  EXPECT_EQ(first.at("msg"), "kept \"quoted\"");
  const auto second = nlohmann::json::parse(lines[1]);
  EXPECT_EQ(second.at("logger"), "rdkafka");
  EXPECT_EQ(second.at("level"), "error");

  EXPECT_THROW(logging::setup(env_of({{"LOCKSTEP_LOG_LEVEL", "INFO2"}}), std::make_shared<test::CaptureSink>()),
               ConfigError);
  spdlog::warn("still here");
  EXPECT_EQ(lines_of(sink->text()).size(), 3u) << "a refused setup replaced the logger";

  auto text_sink = std::make_shared<test::CaptureSink>();
  logging::setup(env_of({}), text_sink);  // again: replaces both
  spdlog::debug("dropped at info");
  spdlog::info("text line");
  spdlog::get("rdkafka")->info("rdkafka#consumer-2 REBALANCE: x");
  const auto text = lines_of(text_sink->text());
  ASSERT_EQ(text.size(), 2u) << text_sink->text();
  const std::regex pattern(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3} info text line)");
  EXPECT_TRUE(std::regex_match(text[0], pattern)) << text[0];
  EXPECT_NE(text[1].find(" info rdkafka#consumer-2 REBALANCE: x"), std::string::npos) << text[1];
  EXPECT_EQ(sink->records().size(), 3u);
}

TEST(LogSetup, OffLogsNothing) {
  auto sink = std::make_shared<test::CaptureSink>();
  logging::setup(env_of({{"LOCKSTEP_LOG_LEVEL", "off"}}), sink);
  spdlog::critical("no");
  spdlog::get("rdkafka")->critical("no");
  EXPECT_TRUE(sink->records().empty());
}

}  // namespace
}  // namespace lockstep
