// The log stream of the built binary, as a user (or a log shipper) sees it on
// stderr: librdkafka's lines in Lockstep's format, never in librdkafka's own
// (`%3|1700000000.123|FAIL|rdkafka#producer-1| ...`).
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "lockstep/test/support.hpp"

namespace lockstep {
namespace {

using namespace std::chrono_literals;

struct CliRun {
  int code = -1;
  std::string err;
};

CliRun run(const std::vector<std::string>& args, const std::map<std::string, std::string>& env) {
  const test::TempDir dir;
  const std::string err_path = dir.path + "/stderr";
  std::vector<std::string> argv = {test::bin_dir() + "/lockstep"};
  argv.insert(argv.end(), args.begin(), args.end());
  CliRun r;
  {
    test::Process p(argv, env, err_path);
    while (p.read_line(30s)) {
    }
    r.code = p.wait(30s).value_or(-1);
  }
  r.err = test::read_file(err_path);
  return r;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// The connection to port 1 fails, which librdkafka logs; the line must come
// through Lockstep's logger (`... error rdkafka#producer-1 FAIL: ...`).
const std::vector<std::string> kUnreachable = {"topics", "check", "--brokers", "127.0.0.1:1", "--timeout-ms", "1500"};

TEST(LogCli, LibrdkafkaLinesAreInLockstepsFormat) {
  const CliRun r = run(kUnreachable, {{"LOCKSTEP_LOG_LEVEL", ""}, {"LOCKSTEP_LOG_FORMAT", ""}});
  EXPECT_EQ(r.code, 1) << r.err;
  const std::regex own_format(R"(^%\d\|)");
  bool routed = false;
  for (const auto& line : lines_of(r.err)) {
    EXPECT_FALSE(std::regex_search(line, own_format)) << "a line in librdkafka's own format: " << line;
    routed = routed || (line.find(" error rdkafka#") != std::string::npos && line.find(" FAIL: ") != std::string::npos);
  }
  EXPECT_TRUE(routed) << "librdkafka's connection failure did not come through the log:\n" << r.err;
}

// The two tests below check that main() sets logging up from the environment.

TEST(LogCli, AnUnknownLevelExitsTwoNamingTheVariable) {
  for (const std::string bad : {"INFO2", "verbose"}) {
    const CliRun r = run({"config", "keys"}, {{"LOCKSTEP_LOG_LEVEL", bad}});
    EXPECT_EQ(r.code, 2) << bad << ": " << r.err;
    EXPECT_NE(r.err.find("LOCKSTEP_LOG_LEVEL"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("\"" + bad + "\""), std::string::npos) << r.err;
  }
  EXPECT_EQ(run({"config", "keys"}, {{"LOCKSTEP_LOG_LEVEL", "INFO"}}).code, 0);
  EXPECT_EQ(run({"config", "keys"}, {{"LOCKSTEP_LOG_FORMAT", "xml"}}).code, 2);
}

TEST(LogCli, JsonFormatGivesOneObjectPerLine) {
  const CliRun r = run(kUnreachable, {{"LOCKSTEP_LOG_LEVEL", "info"}, {"LOCKSTEP_LOG_FORMAT", "json"}});
  EXPECT_EQ(r.code, 1) << r.err;
  bool rdkafka = false;
  for (const auto& line : lines_of(r.err)) {
    EXPECT_FALSE(std::regex_search(line, std::regex(R"(^%\d\|)"))) << line;
    if (line.empty() || line[0] != '{') continue;  // the command's own last word on failure
    const auto j = nlohmann::json::parse(line);
    for (const char* field : {"ts", "level", "logger", "msg"}) EXPECT_TRUE(j.contains(field)) << line;
    rdkafka = rdkafka || (j.at("logger") == "rdkafka" && j.at("level") == "error");
  }
  EXPECT_TRUE(rdkafka) << r.err;
}

}  // namespace
}  // namespace lockstep
