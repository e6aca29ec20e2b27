// Runs build/bin/lockstep as a user would, for the CLI's tests.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "lockstep/test/support.hpp"

namespace lockstep::test {

struct CliResult {
  int code = -1;
  std::string out, err;
  std::chrono::steady_clock::duration took{};
};

// `lockstep ARGS...` with `env` added (LOCKSTEP_* of the caller's environment
// removed first, logs at warn); waits at most `limit` (then it is killed: code 137).
inline CliResult lockstep_cli(const std::vector<std::string>& args, std::map<std::string, std::string> env = {},
                              std::chrono::seconds limit = std::chrono::seconds(60)) {
  std::map<std::string, std::string> e = {{"LOCKSTEP_DATABASE_URL", ""}, {"LOCKSTEP_KAFKA_BROKERS", ""},
                                          {"LOCKSTEP_KAFKA_GROUP_ID", ""}, {"LOCKSTEP_METRICS_LISTEN", ""},
                                          {"LOCKSTEP_CONFIG", ""},         {"LOCKSTEP_LOG_LEVEL", "warn"}};
  for (auto& [k, v] : env) e[k] = v;
  std::vector<std::string> argv = {bin_dir() + "/lockstep"};
  argv.insert(argv.end(), args.begin(), args.end());
  const std::string err = ::testing::TempDir() + "cli-" + unique_suffix() + ".err";
  const auto start = std::chrono::steady_clock::now();
  CliResult r;
  {
    Process p(argv, e, err);
    while (auto line = p.read_line(limit)) r.out += *line + "\n";
    r.code = p.wait_or_kill(limit);
  }
  r.took = std::chrono::steady_clock::now() - start;
  r.err = read_file(err);
  return r;
}

}  // namespace lockstep::test
