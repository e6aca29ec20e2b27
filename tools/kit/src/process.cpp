#include "lockstep/kit/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace lockstep::kit {

namespace {

using Clock = std::chrono::steady_clock;

std::vector<std::string> child_environment(const std::map<std::string, std::string>& env) {
  std::vector<std::string> envs;
  for (char** e = environ; *e; ++e) {
    const std::string kv(*e);
    if (!env.count(kv.substr(0, kv.find('=')))) envs.push_back(kv);
  }
  for (const auto& [k, v] : env)
    if (!v.empty()) envs.push_back(k + "=" + v);  // an empty value removes the variable
  return envs;
}

std::vector<char*> c_strings(const std::vector<std::string>& v) {
  std::vector<char*> out;
  for (const auto& s : v) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

// posix_spawn's attributes and file actions, destroyed on every way out.
struct SpawnSetup {
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  SpawnSetup() {
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  }
  ~SpawnSetup() {
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;
};

}  // namespace

Process::Process(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                 const std::string& log, Stdout out) {
  int fds[2] = {-1, -1};
  if (out == Stdout::pipe && ::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  SpawnSetup s;
  posix_spawn_file_actions_addopen(&s.fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&s.fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (out == Stdout::pipe)
    posix_spawn_file_actions_adddup2(&s.fa, fds[1], 1);
  else
    posix_spawn_file_actions_adddup2(&s.fa, 2, 1);
  const auto envs = child_environment(env);
  auto cargv = c_strings(argv);
  auto cenv = c_strings(envs);
  const int rc = posix_spawn(&pid_, cargv[0], &s.fa, &s.attr, cargv.data(), cenv.data());
  if (fds[1] >= 0) ::close(fds[1]);
  if (rc != 0) {
    if (fds[0] >= 0) ::close(fds[0]);
    pid_ = -1;
    throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
  }
  out_fd_ = fds[0];
}

Process::~Process() {
  if (running()) {
    ::kill(pid_, SIGKILL);
    reap(true);
  }
  if (out_fd_ >= 0) ::close(out_fd_);
}

// Collects the exit status (and the child's resource usage) if it has exited;
// `block`: waits for that. Never wait4(-1): that would take any child.
bool Process::reap(bool block) {
  if (status_) return true;
  if (pid_ <= 0) return false;
  int st = 0;
  for (;;) {
    const pid_t r = ::wait4(pid_, &st, block ? 0 : WNOHANG, &usage_);
    if (r == pid_) break;
    if (r < 0 && errno == EINTR) continue;
    return false;
  }
  status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return true;
}

std::optional<std::string> Process::read_line(std::chrono::milliseconds timeout) {
  if (out_fd_ < 0) return std::nullopt;
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const auto nl = buf_.find('\n');
    if (nl != std::string::npos) {
      auto line = buf_.substr(0, nl);
      buf_.erase(0, nl + 1);
      return line;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd p{out_fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char tmp[4096];
    const auto n = ::read(out_fd_, tmp, sizeof tmp);
    if (n <= 0) return std::nullopt;
    buf_.append(tmp, static_cast<std::size_t>(n));
  }
}

void Process::signal(int sig) {
  if (running()) ::kill(pid_, sig);
}

bool Process::running() { return pid_ > 0 && !reap(false); }

std::optional<int> Process::wait(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!reap(false)) {
    if (pid_ <= 0 || Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // waitpid has no timeout
  }
  return status_;
}

int Process::wait_or_kill(std::chrono::milliseconds timeout) {
  if (auto st = wait(timeout)) return *st;
  if (pid_ > 0) ::kill(pid_, SIGKILL);
  reap(true);
  return status_.value_or(-1);
}

double cpu_seconds(const rusage& u) {
  auto tv = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return tv(u.ru_utime) + tv(u.ru_stime);
}

double Process::cpu_seconds() const { return kit::cpu_seconds(usage_); }

std::optional<double> Process::peak_rss_mib() const {
  if (pid_ <= 0 || status_) return std::nullopt;
  std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::atof(line.c_str() + 6) / 1024.0;  // kB
  return std::nullopt;
}

int run_cmd(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env, const std::string& log) {
  Process p(argv, env, log, Stdout::log);
  return p.wait_or_kill(std::chrono::seconds(120));
}

}  // namespace lockstep::kit
