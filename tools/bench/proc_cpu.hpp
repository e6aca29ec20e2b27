// CPU time of processes of this machine, from /proc and getrusage: the
// benchmark's "db µs" (every process of a PostgreSQL cluster) and "bench µs"
// (this process) columns.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace lockstep::bench {

// The fields of one /proc/PID/stat line that matter here (proc(5)); times in
// clock ticks.
struct ProcStat {
  std::string comm;
  long long ppid = 0;
  long long utime = 0, stime = 0;    // the process's own
  long long cutime = 0, cstime = 0;  // of its children it has waited for
};
// nullopt when the line is not one (too few fields, no "(comm)").
std::optional<ProcStat> parse_proc_stat(std::string_view line);

// CPU seconds of the whole PostgreSQL cluster whose backend `backend_pid`
// is, if that backend is a "postgres" process of this machine: the
// postmaster's own time and that of the children it has reaped (exited
// backends, autovacuum workers), plus the time of each child still running.
// nullopt for a server elsewhere.
std::optional<double> cluster_cpu_seconds(long long backend_pid);

// User + system CPU time of this process so far (all its threads), in seconds.
double own_cpu_seconds();

}  // namespace lockstep::bench
