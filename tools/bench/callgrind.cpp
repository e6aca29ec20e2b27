#include "callgrind.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>

#include "lockstep/kit/process.hpp"

namespace lockstep::bench {

const std::vector<PipelineStage>& pipeline_stages() {
  static const std::vector<PipelineStage> stages = {
      // One message from the consumer: parse, lane key, offset tracking, into the scheduler.
      {"consume", "lockstep::runtime::ConsumeLoop::handle("},
      // An executor takes a batch of keys that are free.
      {"schedule", "lockstep::KeyScheduler::take_batch("},
      // The batch: decisions, its database transaction (statements and commit), retries.
      {"apply", "lockstep::Engine::process("},
      // Each event's outcome: metrics, logs, the offset book, the key released.
      {"finish", "lockstep::runtime::ExecutorPool::finish("},
  };
  return stages;
}

std::vector<std::string> callgrind_prefix(const std::string& valgrind, const std::string& out_file) {
  std::vector<std::string> prefix = {valgrind, "--tool=callgrind", "--callgrind-out-file=" + out_file,
                                     "--collect-atstart=no"};
  for (const auto& s : pipeline_stages()) prefix.push_back("--toggle-collect=" + s.function + "*");
  return prefix;
}

namespace {

// "1,234,567" -> 1234567; the digits at the start of `s` (after blanks).
std::optional<long long> leading_number(const std::string& s) {
  std::string digits;
  std::size_t i = s.find_first_not_of(' ');
  for (; i != std::string::npos && i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == ',');
       ++i)
    if (s[i] != ',') digits += s[i];
  if (digits.empty()) return std::nullopt;
  return std::stoll(digits);
}

}  // namespace

Instructions read_profile(const std::string& valgrind, const std::string& out_file, const std::string& log) {
  std::ifstream in(out_file);
  if (!in) throw std::runtime_error("no callgrind profile " + out_file + " (see " + log + ")");
  Instructions ins;
  bool found = false;
  for (std::string line; std::getline(in, line);) {
    // "summary:" in the header; "totals:" at the end (the same figure when both are there).
    for (const char* tag : {"summary: ", "totals: "}) {
      if (line.rfind(tag, 0) == 0) {
        ins.total = std::stoll(line.substr(std::string(tag).size()));
        found = true;
      }
    }
  }
  if (!found) throw std::runtime_error("callgrind profile " + out_file + " holds no total (see " + log + ")");

  const auto annotate = std::filesystem::path(valgrind).parent_path() / "callgrind_annotate";
  if (!std::filesystem::exists(annotate)) return ins;
  const std::string report = out_file + ".annotated";
  std::filesystem::remove(report);
  if (kit::run_cmd({annotate.string(), "--inclusive=yes", "--threshold=100", out_file}, {}, report) != 0)
    return ins;
  std::ifstream rep(report);
  std::vector<std::string> lines;
  for (std::string line; std::getline(rep, line);) lines.push_back(line);
  for (const auto& s : pipeline_stages()) {
    for (const auto& line : lines) {
      // "  12,345,678 (40.1%)  ???:lockstep::Engine::process(...) [/…/lockstep]"
      if (line.find(":" + s.function) == std::string::npos) continue;
      if (const auto n = leading_number(line)) ins.stages.emplace_back(s.stage, *n);
      break;
    }
  }
  return ins;
}

void print_instructions(const std::vector<Instructions>& runs, std::size_t events) {
  if (runs.empty() || events == 0) return;
  const auto n = static_cast<double>(events);
  std::printf("\ninstructions (callgrind; only in the worker's");
  for (const auto& s : pipeline_stages()) std::printf(" %s", s.stage.c_str());
  std::printf("), first %zu events, fresh database:\n", events);
  double lo = INFINITY, hi = 0, sum = 0;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const double per = static_cast<double>(runs[i].total) / n;
    lo = std::min(lo, per);
    hi = std::max(hi, per);
    sum += per;
    std::printf("  run %zu: %lld in all, %.0f per event", i + 1, runs[i].total, per);
    const char* sep = " (";
    for (const auto& [stage, count] : runs[i].stages) {
      std::printf("%s%s %.0f", sep, stage.c_str(), static_cast<double>(count) / n);
      sep = ", ";
    }
    std::printf("%s\n", runs[i].stages.empty() ? "" : ")");
  }
  if (runs.size() > 1)
    std::printf("  spread between the runs: %.2f%% of their mean\n", 100.0 * (hi - lo) / (sum / static_cast<double>(runs.size())));
}

}  // namespace lockstep::bench
