#include "tools.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <utility>  // Boost 1.74's Asio uses std::exchange without including it

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <pqxx/pqxx>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace lockstep::tools {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

Child::Child(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
             const std::string& log) {
  std::vector<std::string> envs;
  for (char** e = environ; *e; ++e) {
    const std::string kv = *e;
    if (!env.count(kv.substr(0, kv.find('=')))) envs.push_back(kv);
  }
  for (const auto& [k, v] : env) envs.push_back(k + "=" + v);
  std::vector<char*> a, e;
  for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
  a.push_back(nullptr);
  for (const auto& s : envs) e.push_back(const_cast<char*>(s.c_str()));
  e.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  // Children start with no signal blocked, whatever the spawning thread blocks
  // (lockstep-chaos blocks SIGINT/SIGTERM to handle them itself).
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  const int rc = posix_spawn(&pid_, a[0], &fa, &attr, a.data(), e.data());
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
}

Child::~Child() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    wait(std::nullopt);
  }
}

int Child::wait(std::optional<std::chrono::milliseconds> timeout) {
  if (pid_ <= 0) return exit_status_;  // already reaped (by running()): never wait4(-1), which takes any child
  const auto deadline = Clock::now() + timeout.value_or(24h);
  int status = 0;
  for (;;) {
    const pid_t r = ::wait4(pid_, &status, timeout ? WNOHANG : 0, &usage_);
    if (r == pid_) break;
    if (r < 0 && errno != EINTR) return -1;
    if (Clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      timeout.reset();
    }
    std::this_thread::sleep_for(10ms);
  }
  pid_ = -1;
  exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  return exit_status_;
}

void Child::signal(int sig) const {
  if (pid_ > 0) ::kill(pid_, sig);
}

bool Child::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (::wait4(pid_, &status, WNOHANG, &usage_) == pid_) {
    pid_ = -1;
    exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    return false;
  }
  return true;
}

double Child::cpu_seconds() const {
  auto tv = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return tv(usage_.ru_utime) + tv(usage_.ru_stime);
}

std::optional<double> Child::peak_rss_mib() const {
  if (pid_ <= 0) return std::nullopt;
  std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::atof(line.c_str() + 6) / 1024.0;  // kB
  return std::nullopt;
}

int run_cmd(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env, const std::string& log) {
  Child c(argv, env, log);
  return c.wait(120s);
}

namespace {
// The status and body of GET http://127.0.0.1:port/target; status 0 when nothing answered.
std::pair<int, std::string> http_fetch(int port, const std::string& target, const std::string& host = "127.0.0.1") {
  namespace beast = boost::beast;
  namespace http = beast::http;
  try {
    boost::asio::io_context io;
    beast::tcp_stream stream(io);
    stream.expires_after(5s);
    stream.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address(host),
                                                  static_cast<unsigned short>(port)));
    http::request<http::empty_body> req{http::verb::get, target, 11};
    req.set(http::field::host, host);
    http::write(stream, req);
    beast::flat_buffer buf;
    http::response<http::string_body> res;
    http::read(stream, buf, res);
    beast::error_code ec;
    stream.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
    return {static_cast<int>(res.result_int()), res.body()};
  } catch (const std::exception&) {
    return {0, ""};
  }
}
}  // namespace

std::optional<std::string> http_get(int port, const std::string& target) {
  auto [status, body] = http_fetch(port, target);
  if (status != 200) return std::nullopt;
  return std::move(body);
}

int http_status(int port, const std::string& target, const std::string& host) {
  return http_fetch(port, target, host).first;
}

std::optional<long long> parse_integer(const std::string& v, long long lo, long long hi) {
  try {
    std::size_t used = 0;
    const long long n = std::stoll(v, &used);
    if (used == v.size() && n >= lo && n <= hi) return n;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

int free_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}


PgUrl parse_pg_url(const std::string& url) {
  const auto scheme = url.find("://");
  if (scheme == std::string::npos) throw std::runtime_error("database url must be a postgresql:// URL");
  PgUrl u;
  const auto end = url.find_first_of("/?", scheme + 3);  // end of the authority
  const auto authority_end = end == std::string::npos ? url.size() : end;
  const auto at = url.rfind('@', authority_end);
  const auto host_from = at != std::string::npos && at > scheme ? at + 1 : scheme + 3;
  u.prefix = url.substr(0, host_from);
  const auto hostport = url.substr(host_from, authority_end - host_from);
  const auto colon = hostport.rfind(':');
  if (colon != std::string::npos && hostport.find(']', colon) == std::string::npos) {  // not inside [v6]
    u.host = hostport.substr(0, colon);
    u.port = std::stoi(hostport.substr(colon + 1));
  } else {
    u.host = hostport;
  }
  const auto query = url.find('?', authority_end);
  if (authority_end < url.size() && url[authority_end] == '/')
    u.database = url.substr(authority_end + 1, (query == std::string::npos ? url.size() : query) - authority_end - 1);
  if (query != std::string::npos) u.query = url.substr(query);
  return u;
}

std::string PgUrl::str() const {
  return prefix + host + (port > 0 ? ":" + std::to_string(port) : "") + (database.empty() ? "" : "/" + database) +
         query;
}

std::string with_database(const std::string& url, const std::string& name) {
  auto u = parse_pg_url(url);
  u.database = name;
  return u.str();
}

void recreate_database(const std::string& admin_url, const std::string& name) {
  pqxx::connection c(admin_url);
  pqxx::nontransaction tx(c);
  tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(name) + " WITH (FORCE)");
  tx.exec("CREATE DATABASE " + tx.quote_name(name));
}

}  // namespace lockstep::tools
