// A child process for tests, the benchmark and the chaos run.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace lockstep::kit {

// Where a child's standard output goes: to a pipe that read_line() reads (its
// stderr to the log), or appended to the log together with stderr.
enum class Stdout { pipe, log };

// User + system CPU time of `u`, in seconds.
double cpu_seconds(const rusage& u);

// A child process (posix_spawn, no PATH search: argv[0] is a path), stdin
// from /dev/null, started with no signal blocked whatever the spawning thread
// blocks. `env` adds to or replaces the inherited environment; an empty value
// removes the variable. SIGKILLed and reaped on destruction if still running.
// Exit statuses follow the shell: the code, or 128 + the signal that ended it.
class Process {
 public:
  Process(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env, const std::string& log,
          Stdout out = Stdout::pipe);
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  ~Process();

  pid_t pid() const { return pid_; }
  // One line of stdout (without its newline); nullopt on EOF, timeout, or with Stdout::log.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout);
  void signal(int sig);
  bool running();
  // The exit status once it has exited, nullopt when still running after `timeout`.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  // The exit status; SIGKILLed (so 137) when still running after `timeout`.
  int wait_or_kill(std::chrono::milliseconds timeout);
  double cpu_seconds() const;  // user + system, once reaped
  // Peak resident memory of the running child (VmHWM of its own address
  // space). Not ru_maxrss: the kernel folds the spawning process's peak RSS
  // into it at exec, which would report the parent's own memory.
  std::optional<double> peak_rss_mib() const;

 private:
  bool reap(bool block);

  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string buf_;
  std::optional<int> status_;
  struct rusage usage_ {};
};

// Runs a command to completion (SIGKILLed after 120 s), its output appended
// to `log`; its exit status.
int run_cmd(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env, const std::string& log);

}  // namespace lockstep::kit
