// Helpers of the operator-side tools (lockstep-bench, lockstep-chaos): child
// processes, scraping the worker's HTTP endpoints, scratch databases.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace lockstep::tools {

// A child process (posix_spawn) with stdout and stderr appended to `log`;
// `env` adds to (or replaces in) the inherited environment. SIGKILLed and
// reaped on destruction if still running.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env, const std::string& log);
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child();
  // Waits for exit (SIGKILL after `timeout`); returns the exit status, -signal when
  // killed (also when running() already saw the exit).
  int wait(std::optional<std::chrono::milliseconds> timeout);
  void signal(int sig) const;
  bool running();
  pid_t pid() const { return pid_; }
  double cpu_seconds() const;  // user + system, once reaped
  // Peak resident memory of the running child (VmHWM of its own address
  // space). Not ru_maxrss: the kernel folds the spawning process's peak RSS
  // into it at exec, which would report the parent's own memory.
  std::optional<double> peak_rss_mib() const;

 private:
  pid_t pid_ = -1;
  int exit_status_ = -1;
  struct rusage usage_ {};
};

// Runs a command to completion (at most 120 s); its exit status.
int run_cmd(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env, const std::string& log);

// GET http://127.0.0.1:port/target: the body on 200, else nullopt.
std::optional<std::string> http_get(int port, const std::string& target);
// GET http://host:port/target (host an IPv4 address): the status code, 0 when nothing answered.
int http_status(int port, const std::string& target, const std::string& host = "127.0.0.1");

// The value of an integer option when it is one in lo..hi.
std::optional<long long> parse_integer(const std::string& v, long long lo, long long hi);

// A free TCP port on 127.0.0.1 (bound and released).
int free_port();

// The parts of a postgresql:// URL, put back together by str():
// <prefix: scheme://[user[:password]@]><host>[:<port>][/<database>][<query: ?…>].
// An IPv6 host keeps its brackets. Throws std::runtime_error on a string
// that is not a URL (a libpq key=value string).
struct PgUrl {
  std::string prefix;
  std::string host;
  int port = 0;  // 0: none given (libpq's default, 5432)
  std::string database;
  std::string query;
  std::string str() const;
};
PgUrl parse_pg_url(const std::string& url);

// postgresql://u@h:p/db?x -> postgresql://u@h:p/<name>?x
std::string with_database(const std::string& url, const std::string& name);

// Drops (forcing connections off) and creates database `name`.
void recreate_database(const std::string& admin_url, const std::string& name);

}  // namespace lockstep::tools
