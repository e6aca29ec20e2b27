// The worker's instructions per event, counted by callgrind: a figure that,
// unlike time, repeats from run to run on a busy machine, to compare commits
// by (docs/benchmark.md, "Instructions per event").
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace lockstep::bench {

// The stages of the worker's pipeline whose instructions are counted, each
// with the function that runs it once per message or per batch (valgrind's
// symbol pattern). Only these, and what they call, are counted: librdkafka's
// own threads, the offset committer and the HTTP server run on timers and
// would count differently on every run.
struct PipelineStage {
  std::string stage;
  std::string function;
};
const std::vector<PipelineStage>& pipeline_stages();

// What goes before the worker's command line to run it under callgrind,
// counting only in pipeline_stages(), its profile written to `out_file`.
std::vector<std::string> callgrind_prefix(const std::string& valgrind, const std::string& out_file);

// The instructions a profile holds: in all, and in each stage (inclusive, by
// callgrind_annotate next to `valgrind`; empty when that is not there).
struct Instructions {
  long long total = 0;
  std::vector<std::pair<std::string, long long>> stages;
};
// Throws when the profile is missing or holds no total.
Instructions read_profile(const std::string& valgrind, const std::string& out_file, const std::string& log);

// Each run's instructions per event (of `events`), by stage, and the spread
// between the runs (largest - smallest, of their mean).
void print_instructions(const std::vector<Instructions>& runs, std::size_t events);

}  // namespace lockstep::bench
