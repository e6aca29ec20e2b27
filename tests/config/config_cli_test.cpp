// `lockstep config show|keys` as an operator runs them: the effective
// configuration with its sources and no secret, the key table, a bad
// configuration's exit 2, and --help.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "lockstep/config_keys.hpp"
#include "lockstep/test/support.hpp"

namespace lockstep {
namespace {

using namespace std::chrono_literals;
using test::Process;

struct CliRun {
  int code = -1;
  std::string out;
  std::string err;
};

CliRun run(const std::vector<std::string>& args, const std::map<std::string, std::string>& env = {}) {
  const std::string err_path =
      (std::filesystem::temp_directory_path() / ("lockstep-config-cli-" + test::unique_suffix() + ".log")).string();
  std::vector<std::string> argv = {test::bin_dir() + "/lockstep"};
  argv.insert(argv.end(), args.begin(), args.end());
  CliRun r;
  {
    Process p(argv, env, err_path);
    while (auto line = p.read_line(30s)) r.out += *line + "\n";
    r.code = p.wait(30s).value_or(-1);
  }
  std::ifstream in(err_path);
  std::ostringstream ss;
  ss << in.rdbuf();
  r.err = ss.str();
  std::filesystem::remove(err_path);
  return r;
}

// A file in a scratch directory, removed at the end of the test.
struct TempFile {
  std::string path;
  explicit TempFile(const std::string& text)
      : path((std::filesystem::temp_directory_path() / ("lockstep-config-cli-" + test::unique_suffix() + ".yaml"))
                 .string()) {
    std::ofstream(path) << text;
  }
  ~TempFile() { std::filesystem::remove(path); }
};

std::string shipped_with(const std::string& from, const std::string& to) {
  std::ifstream in(test::source_dir() + "/config/lockstep.yaml");
  std::string y((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  y.replace(y.find(from), from.size(), to);
  return y;
}

TEST(ConfigCli, ShowNamesTheSourceOfEachValueAndMasksSecrets) {
  TempFile file(shipped_with("max_attempts: 5", "max_attempts: 9"));
  const CliRun r = run({"config", "show", "--config", file.path, "--group", "flag-group"},
                    {{"LOCKSTEP_DATABASE_URL", "postgresql://lockstep:hunter2@db/lockstep"},
                     {"LOCKSTEP_KAFKA_BROKERS", ""}, {"LOCKSTEP_KAFKA_GROUP_ID", ""},
                     {"LOCKSTEP_METRICS_LISTEN", ""}});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.find("hunter2"), std::string::npos) << r.out;
  auto line_of = [&](const std::string& key) {
    const auto at = r.out.find("\n" + key + " ");
    return at == std::string::npos ? std::string() : r.out.substr(at + 1, r.out.find('\n', at + 1) - at - 1);
  };
  EXPECT_NE(line_of("retry.max_attempts").find("9"), std::string::npos) << r.out;
  EXPECT_NE(line_of("retry.max_attempts").find("file " + file.path), std::string::npos) << r.out;
  EXPECT_NE(line_of("database.url").find("postgresql://lockstep:***@db/lockstep"), std::string::npos) << r.out;
  EXPECT_NE(line_of("database.url").find("environment LOCKSTEP_DATABASE_URL"), std::string::npos) << r.out;
  EXPECT_NE(line_of("kafka.group_id").find("flag-group"), std::string::npos) << r.out;
  EXPECT_NE(line_of("kafka.group_id").find("flag --group"), std::string::npos) << r.out;
  for (const auto& k : config_keys()) EXPECT_FALSE(line_of(std::string(k.name)).empty()) << k.name;
}

// The smallest useful file: where Kafka and the database are. The machines
// are the built-in ones, and `config show` says so.
TEST(ConfigCli, AFileWithOnlyKafkaAndDatabaseLoads) {
  TempFile file("kafka:\n  brokers: kafka:9092\ndatabase:\n  url: postgresql://db/lockstep\n");
  const CliRun r = run({"config", "show", "--config", file.path},
                       {{"LOCKSTEP_DATABASE_URL", ""}, {"LOCKSTEP_KAFKA_BROKERS", ""}});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto at = r.out.find("\nmachines ");
  ASSERT_NE(at, std::string::npos) << r.out;
  const std::string line = r.out.substr(at + 1, r.out.find('\n', at + 1) - at - 1);
  EXPECT_NE(line.find("membership"), std::string::npos) << line;
  EXPECT_NE(line.find("default (built-in machines)"), std::string::npos) << line;

  TempFile empty("kafka:\n  brokers: kafka:9092\nmachines: {}\n");
  const CliRun bad = run({"config", "show", "--config", empty.path});
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("config: machines: at least one state machine must be defined"), std::string::npos)
      << bad.err;
}

TEST(ConfigCli, ShowOfABadConfigExitsTwoNamingTheKey) {
  TempFile file(shipped_with("max_attempts: 5", "max_attempts: lots"));
  const CliRun r = run({"config", "show", "--config", file.path});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("config: retry.max_attempts: must be an integer between 1 and 100 (got \"lots\")"),
            std::string::npos)
      << r.err;
}

TEST(ConfigCli, KeysMarkdownIsTheTable) {
  const CliRun r = run({"config", "keys", "--markdown"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, config_keys_markdown());
  const CliRun text = run({"config", "keys"});
  ASSERT_EQ(text.code, 0) << text.err;
  for (const auto& k : config_keys()) EXPECT_NE(text.out.find(std::string(k.name) + " ("), std::string::npos);
}

TEST(ConfigCli, HelpAndUsage) {
  const CliRun help = run({"config", "--help"});
  EXPECT_EQ(help.code, 0);
  EXPECT_NE(help.out.find("usage: lockstep config show [--config FILE]"), std::string::npos) << help.out;
  const CliRun top = run({"--help"});
  EXPECT_NE(top.out.find("config show|keys"), std::string::npos) << top.out;
  const CliRun bad = run({"config", "shout"});
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("usage: lockstep config"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace lockstep
