// The command line without a database or a broker to talk to: help on every
// command and subcommand, `help CMD`, the version, usage errors that name the
// flag (exit 2), network commands that give up in bounded time (exit 1),
// LOCKSTEP_CONFIG, and the bash completion generated from the parser.
#include <gtest/gtest.h>

#include <fstream>
#include <algorithm>
#include <regex>
#include <set>
#include <sstream>

#include "cli_support.hpp"
#include "lockstep/test/events.hpp"

namespace lockstep::test {
namespace {

using namespace std::chrono_literals;

std::vector<std::string> words(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

// Every command and subcommand, with options its help must mention.
const std::vector<std::pair<std::string, std::vector<std::string>>> kCommands = {
    {"run", {"--config", "--brokers", "--database-url", "--group", "--metrics-listen", "--naive"}},
    {"migrate", {"up", "down", "status"}},
    {"migrate up", {"--config", "--database-url", "--timeout-ms"}},
    {"migrate down", {"--yes", "N", "--database-url"}},
    {"migrate status", {"--database-url"}},
    {"broker", {"--port", "--partitions", "--config"}},
    {"emit", {"--topic", "--wait", "--json", "--raw", "--key", "--outcome-topic", "--timeout-ms", "--brokers", "FILE"}},
    {"dlq", {"list", "show", "replay", "discard", "drain"}},
    {"dlq list", {"--status", "--reason", "--aggregate-type", "--aggregate-id", "--since", "--until", "--limit", "--json",
                  "--database-url"}},
    {"dlq show", {"ID", "--database-url"}},
    {"dlq replay", {"--all", "--rebase", "--no-version-check", "--note", "--by", "--topic", "--dry-run", "--reason",
                    "--timeout-ms", "--brokers"}},
    {"dlq discard", {"--all", "--note", "--by", "--dry-run", "--reason"}},
    {"dlq drain", {"--topic", "--timeout-ms", "--brokers", "--database-url"}},
    {"topics", {"check", "ensure"}},
    {"topics check", {"--brokers", "--timeout-ms"}},
    {"topics ensure", {"--brokers", "--timeout-ms"}},
    {"verify", {"--no-kafka", "--brokers", "--database-url", "--timeout-ms"}},
    {"config", {"show", "keys"}},
    {"config show", {"--config", "--brokers", "--group", "--naive"}},
    {"config keys", {"--markdown"}},
    {"completion", {"bash"}},
    {"completion bash", {"--help"}},
    {"version", {"--help"}},
};

TEST(Cli, EveryCommandAndSubcommandHasItsOwnHelp) {
  const auto top = lockstep_cli({"--help"});
  EXPECT_EQ(top.code, 0) << top.err;
  for (const auto& [cmd, options] : kCommands) {
    for (const char* flag : {"--help", "-h"}) {
      auto args = words(cmd);
      args.push_back(flag);
      const auto r = lockstep_cli(args);
      EXPECT_EQ(r.code, 0) << cmd << " " << flag << ": " << r.err;
      EXPECT_NE(r.out, top.out) << cmd << " " << flag << " printed the top-level help";
      for (const auto& o : options) EXPECT_NE(r.out.find(o), std::string::npos) << cmd << " " << flag << ": no " << o << "\n" << r.out;
    }
    auto help = words(cmd);
    help.insert(help.begin(), "help");
    auto direct = words(cmd);
    direct.push_back("--help");
    const auto h = lockstep_cli(help);
    EXPECT_EQ(h.code, 0) << "help " << cmd << ": " << h.err;
    EXPECT_EQ(h.out, lockstep_cli(direct).out) << "help " << cmd;
  }
  for (const char* name : {"run", "emit", "dlq", "topics", "verify", "config", "version", "completion"})
    EXPECT_NE(top.out.find(name), std::string::npos) << name << "\n" << top.out;
}

TEST(Cli, HelpDlqIsTheHelpOfDlq) {
  const auto r = lockstep_cli({"help", "dlq"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("replay"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("broker"), std::string::npos) << "the top-level help:\n" << r.out;
  const auto bad = lockstep_cli({"help", "nosuch"});
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("nosuch"), std::string::npos) << bad.err;
}

TEST(Cli, VersionNamesTheCommitAndTheSchema) {
  const std::regex rx(R"(^lockstep [0-9]+\.[0-9]+\.[0-9]+ \(commit ([0-9a-f]{4,}|unknown)\)\nschema: needs migration [1-9][0-9]*\n$)");
  std::string first;
  for (const auto& args : std::vector<std::vector<std::string>>{{"--version"}, {"-V"}, {"version"}}) {
    const auto r = lockstep_cli(args);
    EXPECT_EQ(r.code, 0) << args[0] << ": " << r.err;
    EXPECT_TRUE(std::regex_match(r.out, rx)) << args[0] << ": " << r.out;
    if (first.empty()) first = r.out;
    EXPECT_EQ(r.out, first) << args[0];
  }
}

TEST(Cli, NoCommandPrintsUsageAndExitsTwo) {
  const auto r = lockstep_cli({});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE((r.out + r.err).find("dlq"), std::string::npos) << r.out << r.err;
}

TEST(Cli, UsageErrorsExitTwoNamingTheFlag) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"dlq", "list", "--bogus"}, "--bogus"},
      {{"run", "--nope"}, "--nope"},
      {{"nosuch"}, "unknown command 'nosuch'"},
      {{"emit", "--topic", "t", "--timeout-ms", "abc"}, "--timeout-ms"},
      {{"topics", "check", "--timeout-ms", "0"}, "--timeout-ms"},
      {{"emit"}, "--topic"},
      {{"emit", "--topic", "t", "--json"}, "--wait"},
      {{"dlq", "list", "--limit"}, "--limit"},
      {{"dlq", "show"}, "ID"},
      {{"dlq"}, "subcommand"},
      {{"migrate", "down", "0"}, "N"},
      {{"broker", "--port", "70000"}, "--port"},
  };
  for (const auto& [args, named] : cases) {
    const auto r = lockstep_cli(args);
    EXPECT_EQ(r.code, 2) << ::testing::PrintToString(args) << ": " << r.err;
    EXPECT_EQ(r.err.rfind(args[0] == "nosuch" ? "lockstep: " : "lockstep " + args[0] + ": ", 0), 0u)
        << ::testing::PrintToString(args) << ": " << r.err;
    EXPECT_NE(r.err.find(named), std::string::npos) << ::testing::PrintToString(args) << ": " << r.err;
  }
}

// A file of one valid event.
std::string event_file() {
  const std::string path = ::testing::TempDir() + "cli-event-" + unique_suffix() + ".jsonl";
  std::ofstream(path) << event_json("e1", "g/u1", "join") << "\n";
  return path;
}

TEST(Cli, EmitGivesUpOnAnUnreachableBrokerWithinTimeoutMs) {
  const std::string brokers = "127.0.0.1:" + std::to_string(free_port());
  const auto file = event_file();
  for (const bool wait : {false, true}) {
    std::vector<std::string> args = {"emit", "--topic", "transitions.api", "--brokers", brokers, "--timeout-ms", "2000"};
    if (wait) args.insert(args.end(), {"--wait", "--outcome-topic", "outcomes"});
    args.push_back(file);
    const auto r = lockstep_cli(args, {}, 30s);
    EXPECT_EQ(r.code, 1) << "wait=" << wait << ": " << r.out << r.err;
    EXPECT_LT(r.took, 15s) << "wait=" << wait;
    EXPECT_NE(r.err.find(brokers), std::string::npos) << "wait=" << wait << ": names the brokers: " << r.err;
  }
}

TEST(Cli, TheSameConnectionFlagsOnEveryCommandThatConnects) {
  const std::string nowhere = "127.0.0.1:" + std::to_string(free_port());
  const std::string no_db = "postgresql://lockstep@" + nowhere + "/none";
  const std::vector<std::vector<std::string>> cmds = {
      {"emit", "--topic", "transitions.api", "--brokers", nowhere, "--database-url", no_db, "--timeout-ms", "1000",
       event_file()},
      {"dlq", "list", "--database-url", no_db, "--brokers", nowhere, "--timeout-ms", "1000"},
      {"dlq", "drain", "--brokers", nowhere, "--database-url", no_db, "--timeout-ms", "1000"},
      {"migrate", "status", "--database-url", no_db, "--timeout-ms", "1000"},
      {"topics", "check", "--brokers", nowhere, "--database-url", no_db, "--timeout-ms", "1000"},
      {"dlq", "replay", "1", "--database-url", no_db, "--brokers", nowhere, "--timeout-ms", "1000"},
      {"verify", "--no-kafka", "--database-url", no_db, "--brokers", nowhere, "--timeout-ms", "1000"},
  };
  for (const auto& args : cmds) {
    const auto r = lockstep_cli(args, {}, 30s);
    EXPECT_EQ(r.code, 1) << ::testing::PrintToString(args) << ": accepted, then cannot connect: " << r.err;
    EXPECT_LT(r.took, 15s) << ::testing::PrintToString(args);
  }
  const auto shown = lockstep_cli({"config", "show", "--brokers", "flag-host:9092", "--database-url", no_db});
  EXPECT_EQ(shown.code, 0) << shown.err;
  EXPECT_NE(shown.out.find("flag --brokers"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("flag --database-url"), std::string::npos) << shown.out;
}

TEST(Cli, LockstepConfigGivesTheConfigPath) {
  const std::string path = ::testing::TempDir() + "cli-config-" + unique_suffix() + ".yaml";
  std::ofstream(path) << read_file(source_dir() + "/config/lockstep.yaml") << "\n";
  {
    std::string text = read_file(path);
    const auto at = text.find("group_id:");
    ASSERT_NE(at, std::string::npos);
    text.replace(at, text.find('\n', at) - at, "group_id: from-lockstep-config");
    std::ofstream(path) << text;
  }
  const auto r = lockstep_cli({"config", "show"}, {{"LOCKSTEP_CONFIG", path}});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("from-lockstep-config"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(path), std::string::npos) << r.out;
  const auto missing = lockstep_cli({"config", "show"}, {{"LOCKSTEP_CONFIG", path + ".missing"}});
  EXPECT_EQ(missing.code, 2) << missing.out;
  EXPECT_NE(missing.err.find("LOCKSTEP_CONFIG"), std::string::npos) << missing.err;
  EXPECT_NE(missing.err.find(".missing"), std::string::npos) << missing.err;
  const auto flag_wins = lockstep_cli({"config", "show", "--config", path + ".missing"}, {{"LOCKSTEP_CONFIG", path}});
  EXPECT_EQ(flag_wins.code, 2) << "--config comes before LOCKSTEP_CONFIG";
}

// What bash completes after `line` (the last word is completed), with the generated script.
std::string complete(const std::string& script, const std::string& line) {
  auto w = words(line);
  if (line.back() == ' ') w.push_back("");
  std::string arr;
  for (const auto& x : w) arr += " '" + x + "'";
  const std::string cmd = "source " + script + "; COMP_WORDS=(" + arr + "); COMP_CWORD=" + std::to_string(w.size() - 1) +
                          "; _lockstep; echo \"${COMPREPLY[*]}\"";
  Process p({"/bin/bash", "-c", cmd}, {}, ::testing::TempDir() + "complete.err");
  std::string out;
  while (auto l = p.read_line(20s)) out += *l;
  EXPECT_EQ(p.wait_or_kill(20s), 0) << read_file(::testing::TempDir() + "complete.err");
  return out;
}

TEST(Cli, BashCompletionComesFromTheParser) {
  const auto r = lockstep_cli({"completion", "bash"});
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string script = ::testing::TempDir() + "lockstep-completion-" + unique_suffix() + ".bash";
  std::ofstream(script) << r.out;
  EXPECT_EQ(complete(script, "lockstep dl"), "dlq");
  const auto ops = words(complete(script, "lockstep dlq "));
  EXPECT_EQ(std::set<std::string>(ops.begin(), ops.end()).count("replay"), 1u) << ::testing::PrintToString(ops);
  for (const char* w : {"list", "show", "discard", "drain"})
    EXPECT_NE(std::find(ops.begin(), ops.end(), w), ops.end()) << w;
  EXPECT_EQ(complete(script, "lockstep dlq list --re"), "--reason");
  EXPECT_EQ(complete(script, "lockstep emit --ou"), "--outcome-topic");
  EXPECT_EQ(complete(script, "lockstep migrate do"), "down");
  EXPECT_EQ(complete(script, "lockstep help dl"), "dlq");
}

}  // namespace
}  // namespace lockstep::test
