// CPU time from /proc and getrusage (proc_cpu.hpp).
#include "proc_cpu.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <system_error>
#include <vector>

#include "lockstep/kit/process.hpp"

namespace lockstep::bench {
namespace {

std::optional<ProcStat> read_proc_stat(long long pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  if (!in) return std::nullopt;
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return parse_proc_stat(text);
}

}  // namespace

std::optional<ProcStat> parse_proc_stat(std::string_view line) {
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so
  // the fields start after the last ')'.
  const auto open = line.find('('), close = line.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) return std::nullopt;
  ProcStat st;
  st.comm = std::string(line.substr(open + 1, close - open - 1));
  std::string_view rest = line.substr(close + 1);
  const auto skip_spaces = [&rest] {
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  };
  skip_spaces();
  rest.remove_prefix(std::min(rest.find(' '), rest.size()));  // the state letter
  std::vector<long long> f;                                   // fields 4 (ppid) to 17 (cstime)
  while (f.size() < 14) {
    skip_spaces();
    long long v = 0;
    const auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), v);
    if (ec != std::errc()) return std::nullopt;
    f.push_back(v);
    rest.remove_prefix(static_cast<std::size_t>(end - rest.data()));
  }
  st.ppid = f[0];
  st.utime = f[10];
  st.stime = f[11];
  st.cutime = f[12];
  st.cstime = f[13];
  return st;
}

std::optional<double> cluster_cpu_seconds(long long backend_pid) {
  const auto backend = read_proc_stat(backend_pid);
  if (!backend || backend->comm != "postgres") return std::nullopt;
  const long long postmaster = backend->ppid;
  const auto pm = read_proc_stat(postmaster);
  if (!pm || pm->comm != "postgres") return std::nullopt;
  long long ticks = pm->utime + pm->stime + pm->cutime + pm->cstime;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    long long pid = 0;
    const auto [end, err] = std::from_chars(name.data(), name.data() + name.size(), pid);
    if (err != std::errc() || end != name.data() + name.size()) continue;
    if (const auto st = read_proc_stat(pid); st && st->ppid == postmaster) ticks += st->utime + st->stime;
  }
  return static_cast<double>(ticks) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

double own_cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return kit::cpu_seconds(u);
}

}  // namespace lockstep::bench
