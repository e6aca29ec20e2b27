// lockstep-chaos: the reliability run. Two producer processes stream events
// (creates, transitions, edits, stale versions, duplicates, malformed and
// oversize input) into the bot and API topics of an in-process development
// broker for overlapping keys, a direct writer updates the same rows through
// the store's compare-and-set, and meanwhile the run SIGKILLs and restarts the
// worker, stops and starts PostgreSQL, freezes it (SIGSTOP: a hang, not a
// refusal), crashes it (SIGKILL of the postmaster), fills the disk under the
// database, injects broker faults (request errors on Produce, Fetch and
// OffsetCommit, leader changes, a broker down and up; with --kafka real, on a
// three-node Apache Kafka cluster instead: SIGKILLs of a partition's leader,
// the group coordinator and the active controller, a node paused past the
// session timeouts and a rolling restart) and has a second and a
// third worker join and leave the group, also while the first is paused. Then
// it waits until the worker has caught up and runs the invariant checker
// (lockstep::verify), and prints per fault class how quickly /readyz turned 503
// and back to 200.
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "lockstep/config.hpp"
#include "lockstep/kafka.hpp"
#include "lockstep/store.hpp"
#include "lockstep/verify.hpp"
#include "lockstep/event_keys.hpp"
#include "lockstep/kit/args.hpp"
#include "lockstep/kit/config_file.hpp"
#include "lockstep/kit/net.hpp"
#include "lockstep/kit/pg.hpp"
#include "lockstep/kit/poll.hpp"
#include "lockstep/kit/process.hpp"

namespace lockstep::chaos {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using namespace lockstep::kit;
using Json = nlohmann::json;

constexpr const char* kUsage = R"(usage: lockstep-chaos [options]
  --database-url URL  PostgreSQL to use (a database lockstep_chaos is
                      created on it); default $LOCKSTEP_DATABASE_URL
  --duration S        seconds of producing and faults (default 240)
  --kills N           SIGKILLs of the worker, each followed by a restart
                      (default 6)
  --rate R            events/s of each of the two producers (default 150)
  --keys K            aggregates the producers share (default 300)
  --seed N            random seed (default 1)
  --cycles N          run every fault class N times, evenly spread (default 1)
  --partitions N      partitions of each input topic (default 8; the
                      development broker keeps ~5 MiB of each)
  --sample-every S    every S seconds print worker-a's RSS, open file
                      descriptors, threads, database connections and lag
                      (default 0: off)
  --pgctl PATH        stops/starts PostgreSQL (default $LOCKSTEP_PGCTL, set by
                      scripts/lib/common.sh); "none": no database restart
  --logdir DIR        worker and producer logs (default /tmp/lockstep-chaos.<pid>)
  --kafka dev|real    dev (default): the development broker, in process, with
                      injected request errors, leader changes and a broker
                      down and up. real: the three-node Apache Kafka cluster
                      of scripts/kafka named by $LOCKSTEP_KAFKA_BROKERS,
                      $LOCKSTEP_KAFKA_DIR and $LOCKSTEP_KAFKACTL (its topics
                      must not exist yet), with SIGKILLs of a partition's
                      leader, of the group coordinator and of the active
                      controller, the coordinator paused past the session
                      timeouts and a rolling restart of every node;
                      --duration / --cycles must then be at least 120 s
Prints what it did and one line per invariant; exits 0 when every invariant
holds, 1 on any violation, 2 on bad usage.
)";

[[noreturn]] void usage(const std::string& msg) { fail_usage("lockstep-chaos", kUsage, msg); }

const std::vector<std::string> kTopics = {"transitions.bot", "transitions.api"};
// The development broker keeps about 5 MiB / 100k messages per partition and
// drops older ones: enough partitions (--partitions; the dead-letter and
// outcome topics get twice as many) that a run keeps everything, and a check
// that it did (dropped_by_broker()).

// ---------------------------------------------------------------------------
// Producer process: `lockstep-chaos produce --brokers B --topic T --seed S
// --rate R --keys K --seconds N`. Streams events for N seconds and exits.
int produce(const std::map<std::string, std::string>& a) {
  const std::string topic = a.at("--topic");
  const auto seed = static_cast<uint64_t>(std::stoull(a.at("--seed")));
  const double rate = std::stod(a.at("--rate"));
  const int keys = std::stoi(a.at("--keys"));
  const auto until = Clock::now() + std::chrono::seconds(std::stoi(a.at("--seconds")));
  Producer p(a.at("--brokers"), {{"linger.ms", "5"}});
  std::mt19937_64 rng(seed);
  const std::string tag = topic == "transitions.bot" ? "b" : "a";
  // This producer's own view of each member's state: mostly plausible
  // transitions, which still race with the other producer's.
  static const std::map<std::string, std::vector<std::string>> kNext = {
      {"", {"join"}},
      {"pending", {"verify", "remove", "edit"}},
      {"verified", {"activate", "remove", "edit"}},
      {"active", {"suspend", "remove", "edit", "edit"}},
      {"suspended", {"reinstate", "remove", "override"}},
      {"removed", {"rejoin"}}};
  static const std::map<std::string, std::string> kTarget = {
      {"join", "pending"},      {"verify", "verified"}, {"activate", "active"}, {"suspend", "suspended"},
      {"reinstate", "active"},  {"remove", "removed"},  {"rejoin", "pending"},  {"override", "active"}};
  static const char* const kAny[] = {"join", "verify", "activate", "suspend", "reinstate", "remove", "rejoin",
                                     "override", "edit"};
  std::map<std::string, std::string> state;
  std::vector<OutMessage> sent_before;  // for duplicates: re-sends of earlier events
  long n = 0, failed = 0, oversize = 0;
  auto next = Clock::now();
  while (Clock::now() < until) {
    std::vector<OutMessage> batch;
    const int per_tick = std::max(1, static_cast<int>(rate / 50));
    for (int i = 0; i < per_tick; ++i, ++n) {
      const double u = std::uniform_real_distribution<double>(0, 1)(rng);
      const std::string agg = "c-" + std::to_string(rng() % keys);
      const std::string key = "membership:" + agg;
      if (n % 499 == 250 && oversize < 4) {
        // Oversize: over limits.max_event_bytes (malformed). The larger kind's
        // dead-letter message (raw bytes in base64) would exceed the broker's
        // message size and is published trimmed.
        const std::size_t size = oversize++ % 2 == 0 ? 300000 : 760000;
        Json e = {{"event_id", tag + "-" + std::to_string(seed) + "-big" + std::to_string(n)},
                  {"aggregate_type", "membership"},
                  {"aggregate_id", agg},
                  {"transition", "edit"},
                  {"payload", {{"blob", std::string(size, 'x')}}}};
        batch.push_back({topic, key, e.dump(), {}});
        continue;
      }
      if (u < 0.02 && !sent_before.empty()) {  // a producer retry: the same event again
        batch.push_back(sent_before[rng() % sent_before.size()]);
        batch.back().topic = topic;
        continue;
      }
      if (u < 0.03) {  // malformed, in several ways
        static const std::vector<std::string> kBad = {
            "{not json", std::string("\xff\xfe\x00garbage", 10), R"({"event_id":"x"})",
            R"({"event_id":7,"aggregate_type":"membership","aggregate_id":"c-1","transition":"edit"})",
            R"({"aggregate_type":"membership","aggregate_id":"c-1","transition":"edit","expected_version":-1})", "[]",
            ""};
        const std::string id = tag + "-" + std::to_string(seed) + "-m" + std::to_string(n);
        const std::size_t which = rng() % (kBad.size() + 1);
        std::string value = which < kBad.size()
                                ? kBad[which]
                                // a well-formed event under the wrong key
                                : Json{{"event_id", id}, {"aggregate_type", "membership"}, {"aggregate_id", agg},
                                       {"transition", "edit"}}.dump();
        batch.push_back({topic, which < kBad.size() ? key : std::string("membership:other"), value, {}});
        continue;
      }
      Json e = {{"event_id", tag + "-" + std::to_string(seed) + "-" + std::to_string(n)},
                {"aggregate_type", "membership"},
                {"aggregate_id", agg},
                {"actor", tag == "b" ? "bot:chaos" : "api:chaos"}};
      auto& st = state[agg];
      const auto& options = kNext.at(st);
      const std::string tr = rng() % 10 == 0 ? kAny[rng() % std::size(kAny)] : options[rng() % options.size()];
      e["transition"] = tr;
      if (kTarget.count(tr)) st = kTarget.at(tr);
      if (e["transition"] == "edit") e["payload"] = {{tag + "_n", n}, {"score", static_cast<int>(rng() % 100)}};
      if (u < 0.05) e["expected_version"] = static_cast<int>(rng() % 4);  // a stale (or lucky) writer
      batch.push_back({topic, key, e.dump(), {}});
      if (sent_before.size() < 5000) sent_before.push_back(batch.back());
      else sent_before[rng() % sent_before.size()] = batch.back();
    }
    // Sent without waiting for each tick's delivery reports, so that a broker's
    // latency (a real cluster's acks=all round trip, a node being restarted)
    // slows the stream only when librdkafka's queue is full. The reports run
    // here, in poll() and flush().
    for (const auto& m : batch)
      p.send_async(m, [&failed](const Delivery& d) {
        if (d.error) ++failed;
      });
    p.poll(0ms);
    next += 20ms;
    std::this_thread::sleep_until(next);  // pacing, not synchronisation
  }
  if (!p.flush(120s)) std::printf("not every message was delivered within 120 s of the end\n");
  std::printf("produced %ld to %s (%ld oversize), %ld delivery failures\n", n, topic.c_str(), oversize, failed);
  return 0;
}

// ---------------------------------------------------------------------------
struct Options {
  std::string database_url;
  std::string lockstep;
  std::string self;
  std::string pgctl;
  std::string logdir;
  const std::atomic<bool>* interrupted = nullptr;  // set on SIGINT/SIGTERM
  int duration_s = 240;
  int kills = 6;
  int rate = 150;
  int keys = 300;
  uint64_t seed = 1;
  int cycles = 1;
  int partitions = 8;
  int sample_every_s = 0;
  bool real_kafka = false;
  std::string kafka_brokers, kafka_dir, kafkactl;  // --kafka real
};

Options parse(int argc, char** argv) {
  Options o;
  if (const char* u = std::getenv("LOCKSTEP_DATABASE_URL")) o.database_url = u;
  if (const char* p = std::getenv("LOCKSTEP_PGCTL")) o.pgctl = p;
  if (const char* b = std::getenv("LOCKSTEP_KAFKA_BROKERS")) o.kafka_brokers = b;
  if (const char* d = std::getenv("LOCKSTEP_KAFKA_DIR")) o.kafka_dir = d;
  if (const char* k = std::getenv("LOCKSTEP_KAFKACTL")) o.kafkactl = k;
  o.self = std::filesystem::canonical("/proc/self/exe").string();
  o.lockstep = (std::filesystem::path(o.self).parent_path() / "lockstep").string();
  o.logdir = "/tmp/lockstep-chaos." + std::to_string(::getpid());
  for_each_option(argc, argv, kUsage, usage, [&](const std::string& a, const std::string& v) {
    auto integer = [&](long long lo, long long hi) { return integer_option(a, v, lo, hi, usage); };
    if (a == "--database-url") o.database_url = v;
    else if (a == "--duration") o.duration_s = static_cast<int>(integer(10, 3600));
    else if (a == "--kills") o.kills = static_cast<int>(integer(0, 100));
    else if (a == "--rate") o.rate = static_cast<int>(integer(1, 100000));
    else if (a == "--keys") o.keys = static_cast<int>(integer(1, 1000000));
    else if (a == "--seed") o.seed = static_cast<uint64_t>(integer(0, 1LL << 62));
    else if (a == "--cycles") o.cycles = static_cast<int>(integer(1, 100));
    else if (a == "--partitions") o.partitions = static_cast<int>(integer(1, 256));
    else if (a == "--sample-every") o.sample_every_s = static_cast<int>(integer(0, 3600));
    else if (a == "--pgctl") o.pgctl = v == "none" ? "" : v;
    else if (a == "--logdir") o.logdir = v;
    else if (a == "--kafka" && (v == "dev" || v == "real")) o.real_kafka = v == "real";
    else if (a == "--kafka") usage("--kafka: expected dev or real");
    else usage("unknown option " + a);
  });
  if (o.database_url.empty()) usage("--database-url (or LOCKSTEP_DATABASE_URL) is required");
  if (o.duration_s / o.cycles < 30) usage("--duration / --cycles must leave at least 30 s for each cycle");
  if (o.real_kafka) {
    if (o.kafka_brokers.empty() || o.kafka_dir.empty() || o.kafkactl.empty())
      usage("--kafka real needs LOCKSTEP_KAFKA_BROKERS, LOCKSTEP_KAFKA_DIR and LOCKSTEP_KAFKACTL (scripts/chaos "
            "--kafka real starts a cluster and sets them)");
    if (o.duration_s / o.cycles < 120)
      usage("--kafka real: --duration / --cycles must leave at least 120 s for each cycle (a rolling restart "
            "alone takes about 30 s)");
  }
  return o;
}

// SIGINT/SIGTERM: unwind, so every child is killed and PostgreSQL started again.
void check_interrupted(const Options& o) {
  if (o.interrupted && o.interrupted->load()) throw std::runtime_error("interrupted: children stopped");
}

// The shipped configuration as the workers of the run get it (the file
// `path`; brokers, database and group come from the environment).
Config chaos_config(const std::string& path) {
  Config c = builtin_config();
  c.source_path = path;
  c.kafka.properties = {{"session.timeout.ms", "6000"},
                        {"heartbeat.interval.ms", "500"},
                        {"fetch.wait.max.ms", "50"},
                        // A JoinGroup request may wait max.poll.interval.ms (+3 s) for its answer. The
                        // development broker can lose a pending one when its coordinator goes down and up;
                        // 30 s instead of librdkafka's 300 s bounds how long a worker then waits outside the group.
                        {"max.poll.interval.ms", "30000"}};
  c.retry.max_attempts = 10;
  // Oversize input: the producers send a few events over this (malformed).
  c.limits.max_event_bytes = 262144;
  // An outcome message for every event: the outcome path under the same faults.
  c.kafka.outcome_topic = "transitions.outcomes";
  // A hung database call is cut after 6 s (not-ready after 3 s).
  c.database.timeout_ms = 6000;
  c.shutdown_timeout_ms = 8000;
  return c;
}

// An executable of the system by name ("" when absent): children are spawned
// without a PATH search.
std::string system_tool(const std::string& name) {
  for (const char* dir : {"/usr/sbin/", "/sbin/", "/usr/bin/", "/bin/"})
    if (::access((dir + name).c_str(), X_OK) == 0) return dir + name;
  return "";
}

// A worker process: `lockstep run` with the chaos config and its own metrics port.
class WorkerProc {
 public:
  // `netns`: run it in that network namespace, its metrics on `host` (an
  // address of the namespace that this process reaches).
  WorkerProc(const Options& o, std::string name, std::string config, std::map<std::string, std::string> env,
             std::string netns = "", std::string host = "127.0.0.1")
      : o_(o), name_(std::move(name)), config_(std::move(config)), env_(std::move(env)), netns_(std::move(netns)),
        host_(std::move(host)), port_(free_port()) {
    env_["LOCKSTEP_METRICS_LISTEN"] = host_ + ":" + std::to_string(port_);
  }
  void start() {
    std::vector<std::string> argv = {o_.lockstep, "run", "--config", config_};
    if (!netns_.empty()) argv.insert(argv.begin(), {system_tool("ip"), "netns", "exec", netns_});  // execs: same pid
    child_ = std::make_unique<Process>(argv, env_, o_.logdir + "/" + name_ + ".log", Stdout::log);
  }
  bool running() { return child_ && child_->running(); }
  void kill() {
    child_->signal(SIGKILL);
    child_->wait_or_kill(30s);
  }
  int terminate(std::chrono::milliseconds timeout) {
    child_->signal(SIGTERM);
    return child_->wait_or_kill(timeout);
  }
  bool ready() { return http_get(port_, "/readyz").first == 200; }
  int readyz() const { return http_get(port_, "/readyz", host_).first; }  // 0: not answering
  std::optional<std::string> metrics() const {
    auto [status, body] = http_get(port_, "/metrics");
    if (status != 200) return std::nullopt;
    return std::move(body);
  }
  pid_t pid() const { return child_ ? child_->pid() : -1; }
  const std::string& name() const { return name_; }

 private:
  const Options& o_;
  std::string name_, config_;
  std::map<std::string, std::string> env_;
  std::string netns_, host_;
  int port_;
  std::unique_ptr<Process> child_;
};

// /readyz of one worker, sampled every 200 ms on a thread of its own, so that
// each fault's time to not-ready and back to ready can be read afterwards.
class ReadyMonitor {
 public:
  explicit ReadyMonitor(const WorkerProc& w)
      : thread_([this, &w](std::stop_token st) {
          while (!st.stop_requested()) {
            const int status = w.readyz();
            {
              std::lock_guard lk(mu_);
              samples_.push_back({Clock::now(), status});
            }
            std::this_thread::sleep_for(200ms);  // the sampling period
          }
        }) {}
  // The last sample before `t` (0 when none).
  int before(Clock::time_point t) {
    std::lock_guard lk(mu_);
    int status = 0;
    for (const auto& [at, s] : samples_) {
      if (at >= t) break;
      status = s;
    }
    return status;
  }
  // First sample in [from, until) that `pred` accepts.
  std::optional<Clock::time_point> first(Clock::time_point from, Clock::time_point until,
                                         const std::function<bool(int)>& pred) {
    std::lock_guard lk(mu_);
    for (const auto& [t, status] : samples_)
      if (t >= from && t < until && pred(status)) return t;
    return std::nullopt;
  }

 private:
  std::mutex mu_;
  std::vector<std::pair<Clock::time_point, int>> samples_;
  std::jthread thread_;
};

// What a long run watches for leaks: every `every`, one line with worker-a's
// resident memory, open file descriptors and threads (from /proc), its
// database connections (application_name lockstep-a) and its total lag.
class ResourceSampler {
 public:
  ResourceSampler(const WorkerProc& w, std::string db_url, std::chrono::seconds every, Clock::time_point t0)
      : thread_([this, &w, url = std::move(db_url), every, t0](std::stop_token st) {
          std::unique_ptr<pqxx::connection> db;
          auto next = Clock::now() + every;
          while (!st.stop_requested()) {
            if (Clock::now() < next) {
              std::this_thread::sleep_for(200ms);  // the sampling clock
              continue;
            }
            next += every;
            const pid_t pid = w.pid();
            const std::string proc = "/proc/" + std::to_string(pid);
            long rss_kib = -1, threads = -1, fds = -1, conns = -1;
            double lag = -1;
            std::ifstream status(proc + "/status");
            for (std::string line; std::getline(status, line);) {
              if (line.rfind("VmRSS:", 0) == 0) rss_kib = std::atol(line.c_str() + 6);
              if (line.rfind("Threads:", 0) == 0) threads = std::atol(line.c_str() + 8);
            }
            std::error_code ec;
            std::filesystem::directory_iterator fd_dir(proc + "/fd", ec);
            if (!ec) fds = static_cast<long>(std::distance(fd_dir, std::filesystem::directory_iterator()));
            try {
              if (!db) db = std::make_unique<pqxx::connection>(url + (url.find('?') == std::string::npos ? "?" : "&") +
                                                               "connect_timeout=2");
              conns = pqxx::nontransaction(*db)
                          .exec("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'lockstep-a'")[0][0]
                          .as<long>();
            } catch (const std::exception&) {
              db.reset();
            }
            if (const auto m = w.metrics()) {
              lag = 0;
              std::istringstream in(*m);
              for (std::string line; std::getline(in, line);)
                if (line.rfind("lockstep_consumer_lag{", 0) == 0) lag += std::atof(line.c_str() + line.rfind(' ') + 1);
            }
            std::printf("  %6.0f s  sample: pid %d rss %.1f MiB, fds %ld, threads %ld, db connections %ld, lag %.0f\n",
                        std::chrono::duration<double>(Clock::now() - t0).count(), static_cast<int>(pid),
                        rss_kib / 1024.0, fds, threads, conns, lag);
            std::fflush(stdout);
          }
        }) {}

 private:
  std::jthread thread_;
};

// Network partitions: a worker in a network namespace of its own reaches
// PostgreSQL and the broker over a veth pair, through socat forwarders (the
// development broker and the test server listen on loopback only); with N the
// run's own 169.254.N.0/24:
//   worker (netns) -> 127.0.0.1:<broker port> (socat in the netns) -> veth ->
//     169.254.N.5:<port> (socat) -> 127.0.0.1:<port> (broker)
//   worker (netns) -> 169.254.N.1:<pg port> -> veth (socat) -> 127.0.0.1:<pg port>
// A path is cut by pointing the namespace's neighbour entry for its address
// at a MAC address nobody has: packets leave and vanish, nothing is refused
// or closed. The addresses are link-local and exist only on this veth pair.
// The host reaches the worker's metrics at 169.254.N.2 from 169.254.N.9,
// which is never cut. Needs root, iproute2 and socat; skipped otherwise.
class NetPartition {
 public:

  // Addresses of this run's own /24 of the link-local range (by pid, so that
  // two runs on one machine do not collide).
  const std::string& db_addr() const { return db_addr_; }
  const std::string& broker_addr() const { return broker_addr_; }
  const std::string& worker_addr() const { return worker_addr_; }

  NetPartition(const std::string& logdir, const std::string& brokers, int pg_port)
      : ns_("lockstep-chaos-" + std::to_string(::getpid())),
        host_if_("lsc" + std::to_string(::getpid() % 100000) + "h"),
        ns_if_("lsc" + std::to_string(::getpid() % 100000) + "n"),
        log_(logdir + "/netns.log"),
        net_("169.254." + std::to_string(20 + ::getpid() % 200) + "."),
        db_addr_(net_ + "1"),
        broker_addr_(net_ + "5"),
        worker_addr_(net_ + "2"),
        monitor_addr_(net_ + "9") {
    if (::geteuid() != 0) {
      why_ = "not root (network namespaces need it)";
      return;
    }
    ip_ = system_tool("ip");
    socat_ = system_tool("socat");
    if (ip_.empty() || socat_.empty()) {
      why_ = "iproute2 (ip) and socat are needed";
      return;
    }
    try {
      ip({"netns", "add", ns_});
      created_ = true;
      ip({"link", "add", host_if_, "type", "veth", "peer", "name", ns_if_});
      ip({"link", "set", ns_if_, "netns", ns_});
      for (const auto& a : {db_addr_, broker_addr_, monitor_addr_}) ip({"addr", "add", a + "/32", "dev", host_if_});
      ip({"link", "set", host_if_, "up"});
      ip({"route", "add", worker_addr_ + "/32", "dev", host_if_, "src", monitor_addr_});
      ip({"-n", ns_, "addr", "add", worker_addr_ + "/32", "dev", ns_if_});
      ip({"-n", ns_, "link", "set", ns_if_, "up"});
      ip({"-n", ns_, "link", "set", "lo", "up"});
      ip({"-n", ns_, "route", "add", net_ + "0/24", "dev", ns_if_});
      // Forwarders: PostgreSQL, then each broker (host side and namespace side).
      forward({}, "TCP-LISTEN:" + std::to_string(pg_port) + ",bind=" + db_addr_ + ",fork,reuseaddr",
              "TCP:127.0.0.1:" + std::to_string(pg_port));
      std::stringstream list(brokers);
      for (std::string b; std::getline(list, b, ',');) {
        const auto port = b.substr(b.rfind(':') + 1);
        forward({}, "TCP-LISTEN:" + port + ",bind=" + broker_addr_ + ",fork,reuseaddr",
                std::string("TCP:127.0.0.1:") + port);
        forward(ns_, "TCP-LISTEN:" + port + ",bind=127.0.0.1,fork,reuseaddr",
                "TCP:" + broker_addr_ + ":" + port);
      }
      pg_port_ = pg_port;
    } catch (const std::exception& e) {
      why_ = e.what();
    }
  }
  ~NetPartition() {
    forwarders_.clear();  // SIGKILLed and reaped
    if (created_) {
      run_cmd({ip_, "link", "del", host_if_}, {}, log_);
      run_cmd({ip_, "netns", "del", ns_}, {}, log_);
    }
  }
  NetPartition(const NetPartition&) = delete;
  NetPartition& operator=(const NetPartition&) = delete;

  bool available() const { return why_.empty(); }
  const std::string& why() const { return why_; }
  const std::string& netns() const { return ns_; }
  // The database URL as the namespaced worker sees it.
  std::string database_url(const std::string& url) const {
    auto u = parse_pg_url(url);
    u.host = db_addr_;
    u.port = pg_port_;
    return u.str();
  }
  // Drops (true) or lets through (false) the namespace's packets to `addr`.
  void cut(const std::string& addr, bool drop) {
    if (drop)
      ip({"-n", ns_, "neigh", "replace", addr, "lladdr", "02:00:00:00:00:01", "dev", ns_if_, "nud", "permanent"});
    else
      ip({"-n", ns_, "neigh", "del", addr, "dev", ns_if_});
  }

 private:
  void ip(std::vector<std::string> args) {
    args.insert(args.begin(), ip_);
    if (run_cmd(args, {}, log_) != 0) {
      std::string cmd;
      for (const auto& a : args) cmd += " " + a;
      throw std::runtime_error("failed:" + cmd + " (see " + log_ + ")");
    }
  }
  void forward(const std::string& netns, const std::string& listen, const std::string& to) {
    std::vector<std::string> argv = {socat_, listen, to};
    if (!netns.empty()) argv.insert(argv.begin(), {ip_, "netns", "exec", netns});
    forwarders_.push_back(std::make_unique<Process>(argv, std::map<std::string, std::string>{}, log_, Stdout::log));
  }
  std::string ns_, host_if_, ns_if_, log_, net_, db_addr_, broker_addr_, worker_addr_, monitor_addr_, why_, ip_, socat_;
  bool created_ = false;
  int pg_port_ = 0;
  std::vector<std::unique_ptr<Process>> forwarders_;
};

// A full disk under the chaos database: its tablespace lives on a tmpfs of its
// own, which a filler file fills to the last byte (fill) and frees again
// (release). Needs root (mount) and a superuser database role; without them
// the fault class is skipped and why() says so.
class DiskFault {
 public:
  DiskFault(const std::string& admin_url, const std::string& logdir) : admin_url_(admin_url) {
    if (::geteuid() != 0) {
      why_ = "not root (mount needs it)";
      return;
    }
    try {
      pqxx::connection c(admin_url_);
      pqxx::nontransaction tx(c);
      const auto data_dir = tx.exec("SELECT current_setting('data_directory')")[0][0].as<std::string>();
      struct stat st {};
      if (::stat(data_dir.c_str(), &st) != 0) throw std::runtime_error("cannot stat " + data_dir);
      dir_ = logdir + "/disk";
      std::filesystem::create_directories(dir_);
      if (::mount("tmpfs", dir_.c_str(), "tmpfs", 0, "size=1g,mode=0700") != 0)
        throw std::runtime_error(std::string("mount tmpfs: ") + std::strerror(errno));
      mounted_ = true;
      if (::chown(dir_.c_str(), st.st_uid, st.st_gid) != 0)
        throw std::runtime_error(std::string("chown: ") + std::strerror(errno));
      tx.exec("DROP DATABASE IF EXISTS lockstep_chaos WITH (FORCE)");
      tx.exec("DROP TABLESPACE IF EXISTS " + std::string(kTablespace));
      tx.exec("CREATE TABLESPACE " + std::string(kTablespace) + " LOCATION " + tx.quote(dir_));
    } catch (const std::exception& e) {
      why_ = e.what();
      unmount();
    }
  }
  ~DiskFault() {
    release();
    if (!mounted_) return;
    try {
      pqxx::connection c(admin_url_);
      pqxx::nontransaction tx(c);
      tx.exec("DROP DATABASE IF EXISTS lockstep_chaos WITH (FORCE)");
      tx.exec("DROP TABLESPACE IF EXISTS " + std::string(kTablespace));
    } catch (const std::exception& e) {
      std::cerr << "lockstep-chaos: dropping the chaos tablespace: " << e.what() << "\n";
    }
    unmount();
  }
  DiskFault(const DiskFault&) = delete;
  DiskFault& operator=(const DiskFault&) = delete;

  bool available() const { return why_.empty(); }
  const std::string& why() const { return why_; }
  static constexpr const char* kTablespace = "lockstep_chaos_ts";

  // Writes a filler file until the file system is full.
  void fill() {
    const std::string path = dir_ + "/filler";
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd < 0) throw std::runtime_error("cannot create " + path);
    const std::string chunk(1 << 20, '\0');
    std::size_t size = chunk.size();
    for (;;) {
      const auto n = ::write(fd, chunk.data(), size);
      if (n > 0) continue;
      if (size == 1) break;  // not even one byte fits
      size = std::max<std::size_t>(1, size / 16);
    }
    ::close(fd);
    filled_ = true;
  }
  void release() {
    if (filled_) std::filesystem::remove(dir_ + "/filler");
    filled_ = false;
  }

 private:
  void unmount() {
    if (mounted_ && ::umount2(dir_.c_str(), MNT_DETACH) != 0)
      std::cerr << "lockstep-chaos: umount " << dir_ << ": " << std::strerror(errno) << "\n";
    mounted_ = false;
  }
  std::string admin_url_;
  std::string dir_;
  std::string why_;
  bool mounted_ = false;
  bool filled_ = false;
};

// The three-node Apache Kafka cluster of scripts/kafka (--kafka real), driven
// through that script: topics, node faults, and which node leads what. Node
// ids are 1..3. Not thread-safe: one thread drives it. Whatever is down or
// paused is brought back by restore() and on destruction.
class RealKafka {
 public:
  static constexpr int kNodes = 3;
  explicit RealKafka(const Options& o) : o_(o), out_(o.logdir + "/kafkactl.out") {}
  ~RealKafka() {
    try {
      restore();
    } catch (const std::exception& e) {
      std::cerr << "lockstep-chaos: bringing Kafka back: " << e.what() << "\n";
    }
  }
  RealKafka(const RealKafka&) = delete;
  RealKafka& operator=(const RealKafka&) = delete;

  void create_topic(const std::string& topic, int partitions) {
    ctl({"topics", "create", topic, std::to_string(partitions)});
  }
  int leader(const std::string& topic, int partition) { return node(ctl({"leader", topic, std::to_string(partition)})); }
  int coordinator(const std::string& group) { return node(ctl({"coordinator", group})); }
  int controller() { return node(ctl({"controller"})); }
  void kill(int n) {
    ctl({"kill", std::to_string(n)});
    down_.insert(n);
  }
  void stop(int n) {
    ctl({"stop-node", std::to_string(n)});
    down_.insert(n);
  }
  void start(int n) {
    ctl({"start-node", std::to_string(n)});
    down_.erase(n);
  }
  void pause(int n) {
    ctl({"pause", std::to_string(n)});
    paused_.insert(n);
  }
  void resume(int n) {
    ctl({"resume", std::to_string(n)});
    paused_.erase(n);
  }
  // Every node running and answering again.
  void restore() {
    while (!paused_.empty()) resume(*paused_.begin());
    while (!down_.empty()) start(*down_.begin());
  }

 private:
  // Runs scripts/kafka with `args`; its stdout and stderr (also appended to
  // kafkactl.log). Throws when it fails.
  std::string ctl(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {o_.kafkactl};
    argv.insert(argv.end(), args.begin(), args.end());
    std::filesystem::remove(out_);
    const auto started = Clock::now();
    const int rc = run_cmd(argv, {{"LOCKSTEP_KAFKA_DIR", o_.kafka_dir}}, out_);
    const double took = std::chrono::duration<double>(Clock::now() - started).count();
    std::ifstream in(out_);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::string cmd;
    for (const auto& x : args) cmd += " " + x;
    char secs[32];
    std::snprintf(secs, sizeof secs, "%.1f", took);
    std::ofstream(o_.logdir + "/kafkactl.log", std::ios::app)
        << "$ scripts/kafka" << cmd << "  (exit " << rc << " after " << secs << " s)\n" << text;
    if (rc != 0) {
      throw std::runtime_error("scripts/kafka" + cmd + " failed (exit " + std::to_string(rc) +
                               "; see " + o_.logdir + "/kafkactl.log)");
    }
    return text;
  }
  // The node id a query printed: its last line that is a number 1..kNodes.
  static int node(const std::string& text) {
    std::istringstream in(text);
    int id = 0;
    for (std::string line; std::getline(in, line);)
      if (const auto n = parse_integer(line, 1, kNodes)) id = static_cast<int>(*n);
    if (id == 0) throw std::runtime_error("scripts/kafka printed no node id: " + text);
    return id;
  }
  const Options& o_;
  std::string out_;
  std::set<int> down_, paused_;
};

// Partitions whose first message is not at offset 0: the broker's retention
// dropped messages, so "every event has an outcome" could not be checked.
std::string dropped_by_broker(const std::vector<Message>& msgs) {
  std::map<std::pair<std::string, int32_t>, int64_t> first;
  for (const auto& m : msgs) {
    auto [it, added] = first.emplace(std::make_pair(m.topic, m.partition), m.offset);
    if (!added) it->second = std::min(it->second, m.offset);
  }
  std::string out;
  for (const auto& [tp, offset] : first)
    if (offset > 0) out += " " + tp.first + "/" + std::to_string(tp.second);
  return out;
}

int run(const Options& o) {
  std::filesystem::create_directories(o.logdir);
  const std::string db = "lockstep_chaos";
  // The database lives on a tablespace of its own (a tmpfs) when the disk-full
  // fault is possible here; it is dropped with the tablespace at the end.
  DiskFault disk(o.database_url, o.logdir);
  if (disk.available()) {
    pqxx::connection admin(o.database_url);
    pqxx::nontransaction(admin).exec("CREATE DATABASE " + db + " TABLESPACE " + DiskFault::kTablespace);
  } else {
    recreate_database(o.database_url, db);
  }
  const std::string url = with_database(o.database_url, db);
  if (run_cmd({o.lockstep, "migrate", "up"}, {{"LOCKSTEP_DATABASE_URL", url}}, o.logdir + "/migrate.log") != 0)
    throw std::runtime_error("lockstep migrate up failed (see " + o.logdir + "/migrate.log)");

  // The broker: the development broker in process, or a real cluster.
  std::optional<MockCluster> mock;
  std::optional<RealKafka> real;
  if (o.real_kafka) real.emplace(o);
  else mock.emplace(3);
  const int kPartitions = o.partitions;
  const auto create_topic = [&](const std::string& t, int partitions) {
    if (real) real->create_topic(t, partitions);
    else mock->create_topic(t, partitions);
  };
  for (const auto& t : kTopics) create_topic(t, kPartitions);
  create_topic("transitions.dlq", 2 * kPartitions);
  create_topic("transitions.outcomes", 2 * kPartitions);
  const std::string brokers = real ? o.kafka_brokers : mock->bootstraps();
  const std::string group = "chaos-" + std::to_string(::getpid());

  const std::string config = o.logdir + "/lockstep.yaml";
  const Config cfg = chaos_config(config);
  write_config(cfg, config);
  const std::map<std::string, std::string> env = {{"LOCKSTEP_DATABASE_URL", url},
                                                  {"LOCKSTEP_KAFKA_BROKERS", brokers},
                                                  {"LOCKSTEP_KAFKA_GROUP_ID", group},
                                                  {"LOCKSTEP_LOG_LEVEL", "info"}};

  std::cout << "chaos: " << o.duration_s << " s, " << o.kills << " kills, 2 producers at " << o.rate
            << " events/s on " << o.keys << " keys, seed " << o.seed << "; logs in " << o.logdir << std::endl;
  const auto t0 = Clock::now();
  auto at_run = [&](double share) {
    return t0 + std::chrono::milliseconds(static_cast<long>(share * o.duration_s * 1000));
  };
  auto log = [&](const std::string& what) {
    std::printf("  %6.1f s  %s\n", std::chrono::duration<double>(Clock::now() - t0).count(), what.c_str());
    std::fflush(stdout);
  };

  auto env_a = env;  // worker-a's connections are told apart (ResourceSampler)
  env_a["LOCKSTEP_DATABASE_URL"] = url + (url.find('?') == std::string::npos ? "?" : "&") + "application_name=lockstep-a";
  WorkerProc a(o, "worker-a", config, env_a);
  a.start();
  ReadyMonitor ready_a_(a);
  // A fourth worker in a network namespace of its own, for the partitions.
  const int pg_port = parse_pg_url(url).port;
  NetPartition net(o.logdir, brokers, pg_port > 0 ? pg_port : 5432);
  auto env_n = env;
  env_n["LOCKSTEP_DATABASE_URL"] = net.database_url(url) + (url.find('?') == std::string::npos ? "?" : "&") +
                                   "application_name=lockstep-n";
  WorkerProc n(o, "worker-n", config, env_n, net.netns(), net.worker_addr());
  ReadyMonitor ready_n(n);
  std::optional<ResourceSampler> sampler;
  if (o.sample_every_s > 0) sampler.emplace(a, url, std::chrono::seconds(o.sample_every_s), t0);
  std::vector<std::unique_ptr<Process>> producers;
  for (std::size_t i = 0; i < kTopics.size(); ++i)
    producers.push_back(std::make_unique<Process>(
        std::vector<std::string>{o.self, "produce", "--brokers", brokers, "--topic", kTopics[i], "--seed",
                                 std::to_string(o.seed * 10 + i), "--rate", std::to_string(o.rate), "--keys",
                                 std::to_string(o.keys), "--seconds", std::to_string(o.duration_s)},
        std::map<std::string, std::string>{}, o.logdir + "/producer-" + std::to_string(i) + ".log", Stdout::log));

  // The direct writer: the web API editing rows through the store's CAS.
  // A jthread: stopped and joined on every way out, exceptions included.
  std::atomic<long> direct_written{0}, direct_lost{0}, direct_errors{0};
  std::jthread direct([&](std::stop_token st) {
    std::mt19937_64 rng(o.seed + 77);
    std::unique_ptr<OutcomeStore> store;  // its hot path is all it uses
    for (long n = 0; !st.stop_requested(); std::this_thread::sleep_for(20ms)) {
      try {
        if (!store) store = open_store(url);
        const std::string agg = "c-" + std::to_string(rng() % o.keys);
        auto s = store->read({{"membership", agg}}).front();
        if (!s.exists) continue;
        AppliedWrite w;
        w.event_id = "direct-" + std::to_string(o.seed) + "-" + std::to_string(n);
        w.aggregate_type = "membership";
        w.aggregate_id = agg;
        w.transition = "edit";
        w.from_state = s.state;
        w.to_state = s.state;
        w.read_version = s.version;
        w.new_data = s.data;
        w.new_data["direct"] = n;
        w.actor = "web:direct";
        w.src.source = "direct";
        const auto r = store->commit({w}, {});
        if (r.applied[0] == WriteStatus::written) {
          ++direct_written;
          ++n;
        } else {
          ++direct_lost;  // lost the CAS to the worker: read again
        }
      } catch (const std::exception&) {
        ++direct_errors;  // the database is down: try again
        store.reset();
        std::this_thread::sleep_for(200ms);
      }
    }
  });

  // The schedule of faults.
  struct Action {
    Clock::time_point when;
    std::string what;
    std::function<void()> run;
  };
  std::vector<Action> plan;
  std::vector<Action> kafka_plan;  // --kafka real: the cluster's faults, on a thread of their own
  int kills = 0, db_restarts = 0, joins = 0, leaves = 0, crashes = 0;
  std::map<std::string, int> broker_faults;  // per kind; counted by one thread (the plan's or kafka_plan's)
  // Fault windows per class (start, end), for the readiness report.
  std::map<std::string, std::vector<std::pair<Clock::time_point, Clock::time_point>>> windows;
  const auto begin_window = [&](const std::string& cls) { windows[cls].push_back({Clock::now(), Clock::time_point{}}); };
  // A fault lasts at least as long as planned, even when the plan runs behind
  // (a step before it that waited, e.g. for the disk-full fault to show): its
  // end waits for its length from its actual start. Without that, a late start
  // and its end ran back to back and the fault was never there.
  const auto hold_window = [&](const std::string& cls, Clock::duration planned) {
    const auto until = windows[cls].back().first + planned;
    while (Clock::now() < until) {
      std::this_thread::sleep_for(50ms);  // the schedule's clock, not synchronisation
      check_interrupted(o);
    }
  };
  const auto end_window = [&](const std::string& cls) { windows[cls].back().second = Clock::now(); };
  // Each cycle runs every fault class once (one cycle by default; --cycles N
  // repeats them, e.g. for a soak).
  const int cycle_s = o.duration_s / o.cycles;
  const auto window_s = std::chrono::milliseconds(std::clamp(cycle_s * 60, 8000, 20000));
  std::mt19937_64 rng(o.seed);
  for (int k = 0; k < o.kills; ++k) {
    const double jitter = std::uniform_real_distribution<double>(-0.3, 0.3)(rng);
    plan.push_back({at_run((k + 1 + jitter) / (o.kills + 1.0)), "SIGKILL worker-a, restart it", [&] {
                      a.kill();
                      a.start();
                      ++kills;
                    }});
  }
  WorkerProc b(o, "worker-b", config, env);
  WorkerProc c(o, "worker-c", config, env);
  const auto leave = [&](WorkerProc& w) {
    const int rc = w.terminate(30s);
    if (rc != 0) {
      log(w.name() + " exited " + std::to_string(rc) + " on SIGTERM (expected 0)");
      ++crashes;
    }
    ++leaves;
  };
  bool db_down = false, db_frozen = false;
  for (int cycle = 0; cycle < o.cycles; ++cycle) {
    // Shares of this cycle's time.
    const auto at = [&, cycle](double share) { return at_run((cycle + share) / o.cycles); };
    constexpr int kRequestTimedOut = 7, kNotCoordinator = 16, kNotLeader = 6;
    if (mock) {
      plan.push_back({at(0.12), "broker: 5 Fetch errors (NOT_LEADER_OR_FOLLOWER)", [&] {
                        mock->push_request_errors(1, std::vector<int>(5, kNotLeader));
                        ++broker_faults["request errors"];
                      }});
      plan.push_back({at(0.22), "broker: 5 OffsetCommit errors (NOT_COORDINATOR)", [&] {
                        mock->push_request_errors(8, std::vector<int>(5, kNotCoordinator));
                        ++broker_faults["request errors"];
                      }});
      plan.push_back({at(0.32), "broker: 3 Produce errors (REQUEST_TIMED_OUT)", [&] {
                        mock->push_request_errors(0, std::vector<int>(3, kRequestTimedOut));
                        ++broker_faults["request errors"];
                      }});
    }
    plan.push_back({at(0.28), "second worker joins the group", [&] {
                      b.start();
                      ++joins;
                    }});
    plan.push_back({at(0.52), "second worker leaves (SIGTERM)", [&] { leave(b); }});
    if (!o.pgctl.empty()) {
      const auto pgctl = [&](const std::string& what) {
        if (run_cmd({o.pgctl, what}, {}, o.logdir + "/pgctl.log") != 0)
          throw std::runtime_error("pgctl " + what + " failed (see " + o.logdir + "/pgctl.log)");
      };
      plan.push_back({at(0.42), "PostgreSQL: fast shutdown", [&, pgctl] {
                        pgctl("stop");
                        db_down = true;
                        begin_window("database stopped (fast shutdown)");
                      }});
      plan.push_back({at(0.425), "third worker joins while the first is paused (database down)", [&] {
                        c.start();
                        ++joins;
                      }});
      plan.push_back({at(0.47), "PostgreSQL: start", [&, pgctl, down_for = at(0.47) - at(0.42)] {
                        hold_window("database stopped (fast shutdown)", down_for);
                        pgctl("start");
                        db_down = false;
                        ++db_restarts;
                        end_window("database stopped (fast shutdown)");
                      }});
      plan.push_back({at(0.50), "third worker leaves (SIGTERM) after the database is back", [&] {
                        leave(c);
                      }});
      // A hang, not a refusal: every PostgreSQL process stopped.
      plan.push_back({at(0.10), "PostgreSQL: frozen (SIGSTOP of every process)", [&, pgctl] {
                        pgctl("freeze");
                        db_frozen = true;
                        begin_window("database frozen (SIGSTOP)");
                      }});
      // Joins once the first worker has had time to notice (half of database.timeout_ms) and pause.
      plan.push_back({at(0.10) + 4s, "third worker joins while the first is paused (database frozen)", [&] {
                        c.start();
                        ++joins;
                      }});
      plan.push_back({at(0.10) + window_s, "PostgreSQL: thawed (SIGCONT)", [&, pgctl] {
                        hold_window("database frozen (SIGSTOP)", window_s);
                        pgctl("thaw");
                        db_frozen = false;
                        ++db_restarts;
                        end_window("database frozen (SIGSTOP)");
                      }});
      plan.push_back({at(0.10) + window_s + 1s, "third worker leaves (SIGTERM) after the database is back", [&] {
                        leave(c);
                      }});
      // A crash: SIGKILL of the postmaster (and its children); the start runs crash recovery.
      plan.push_back({at(0.56), "PostgreSQL: crash (SIGKILL of the postmaster)", [&, pgctl] {
                        pgctl("kill");
                        db_down = true;
                        begin_window("database crashed (SIGKILL)");
                      }});
      plan.push_back({at(0.56) + 3s, "PostgreSQL: start (crash recovery)", [&, pgctl] {
                        hold_window("database crashed (SIGKILL)", 3s);
                        pgctl("start");
                        db_down = false;
                        ++db_restarts;
                        end_window("database crashed (SIGKILL)");
                      }});
    }
    if (disk.available()) {
      plan.push_back({at(0.80), "disk full under the database (its tablespace's file system)", [&] {
                        disk.fill();
                        begin_window("disk full");
                      }});
      plan.push_back({at(0.80) + window_s / 2, "second worker joins while the first is paused (disk full)", [&] {
                        b.start();
                        ++joins;
                      }});
      plan.push_back({at(0.80) + window_s - 1s, "second worker leaves (SIGTERM) while the disk is full", [&] {
                        leave(b);
                      }});
      plan.push_back({at(0.80) + window_s, "disk space back", [&] {
                        // A full disk shows only to a worker that writes: one that is
                        // rejoining the group after a kill or a broker fault may write
                        // nothing for a while. Hold the fault until worker-a has
                        // noticed it (at most 30 s more), so that the check below
                        // measures the worker, not the schedule.
                        hold_window("disk full", window_s);
                        poll_until(30s, [&] { return a.readyz() != 200; }, 200ms);
                        disk.release();
                        end_window("disk full");
                      }});
    } else if (cycle == 0) {
      log("disk-full fault skipped: " + disk.why());
    }
    if (net.available()) {
      // Paths that drop packets (nothing refused, nothing closed), separately and together.
      plan.push_back({at(0.02), "fourth worker (own network namespace) joins", [&] {
                        n.start();
                        ++joins;
                      }});
      struct Cut {
        double share;
        std::chrono::milliseconds length;
        const char* cls;
        std::vector<std::string> addrs;
      };
      for (const auto& cut : {Cut{0.34, 6000ms, "network: database path drops packets", {net.db_addr()}},
                              Cut{0.64, 8000ms, "network: broker path drops packets", {net.broker_addr()}},
                              Cut{0.90, 6000ms, "network: both paths drop packets",
                                  {net.db_addr(), net.broker_addr()}}}) {
        plan.push_back({at(cut.share), std::string(cut.cls) + " (fourth worker)", [&, cut] {
                          for (const auto& addr : cut.addrs) net.cut(addr, true);
                          begin_window(cut.cls);
                        }});
        plan.push_back({at(cut.share) + cut.length, std::string(cut.cls) + ": restored", [&, cut] {
                          hold_window(cut.cls, cut.length);
                          for (const auto& addr : cut.addrs) net.cut(addr, false);
                          end_window(cut.cls);
                        }});
      }
      plan.push_back({at(0.90) + 6000ms + 25s, "fourth worker leaves (SIGTERM)", [&] { leave(n); }});
    } else if (cycle == 0) {
      log("network partitions skipped: " + net.why());
    }
    if (mock) {
      plan.push_back({at(0.62), "broker: leader change of every input partition", [&] {
                        for (const auto& t : kTopics)
                          for (int p = 0; p < kPartitions; ++p) mock->set_leader(t, p, 1 + (p + 1) % 3);
                        ++broker_faults["leader changes"];
                      }});
      plan.push_back({at(0.72), "broker 2 down", [&] {
                        mock->broker_down(2);
                        ++broker_faults["broker down and up"];
                      }});
      plan.push_back({at(0.77), "broker 2 up", [&] { mock->broker_up(2); }});
      plan.push_back({at(0.85), "broker: leader change back", [&] {
                        for (const auto& t : kTopics)
                          for (int p = 0; p < kPartitions; ++p) mock->set_leader(t, p, 1 + p % 3);
                        ++broker_faults["leader changes"];
                      }});
    }
    if (real) {
      // Faults only a real cluster has. They run on a thread of their own
      // (kafka_plan below): restarting a node waits until it is registered
      // again, and a rolling restart takes half a minute.
      const auto kill_and_restart = [&](const std::string& what, std::function<int()> which) {
        return [&, what, which] {
          const int node = which();
          log("kafka: SIGKILL of node " + std::to_string(node) + ", " + what);
          real->kill(node);
          ++broker_faults[what + " killed"];
          std::this_thread::sleep_for(8s);  // the outage's length, not synchronisation
          real->start(node);
          log("kafka: node " + std::to_string(node) + " running again");
        };
      };
      kafka_plan.push_back({at(0.14), "", kill_and_restart("the leader of transitions.bot/0", [&] {
                                        return real->leader(kTopics[0], 0);
                                      })});
      kafka_plan.push_back({at(0.34), "", kill_and_restart("the group coordinator", [&] {
                                        return real->coordinator(group);
                                      })});
      kafka_plan.push_back({at(0.58), "", kill_and_restart("the active controller", [&] {
                                        return real->controller();
                                      })});
      kafka_plan.push_back({at(0.70), "", [&] {
                              // Past the group's session timeout (6 s) and the broker's
                              // own (9 s): the cluster fences the node and moves what it led.
                              const int node = real->coordinator(group);
                              log("kafka: node " + std::to_string(node) + ", the group coordinator, paused (SIGSTOP) for 15 s");
                              real->pause(node);
                              ++broker_faults["coordinator paused past the session timeout"];
                              std::this_thread::sleep_for(15s);  // the fault's length
                              real->resume(node);
                              log("kafka: node " + std::to_string(node) + " resumed (SIGCONT)");
                            }});
      kafka_plan.push_back({at(0.82), "", [&] {
                              log("kafka: rolling restart of all " + std::to_string(RealKafka::kNodes) + " nodes");
                              for (int node = 1; node <= RealKafka::kNodes; ++node) {
                                real->stop(node);
                                real->start(node);
                              }
                              ++broker_faults["rolling restarts"];
                              log("kafka: rolling restart done");
                            }});
    }
  }
  const auto by_time = [](const Action& x, const Action& y) { return x.when < y.when; };
  std::sort(plan.begin(), plan.end(), by_time);
  std::sort(kafka_plan.begin(), kafka_plan.end(), by_time);
  // The real cluster's faults run beside the plan, one after the other. The
  // first failure ends them and is reported once the plan is done.
  std::exception_ptr kafka_failed;
  int kafka_dropped = 0;  // faults not run: the producers were done first
  std::jthread kafka_faults;
  if (!kafka_plan.empty())
    kafka_faults = std::jthread([&](std::stop_token st) {
      try {
        for (auto& step : kafka_plan) {
          while (Clock::now() < step.when && !st.stop_requested())
            std::this_thread::sleep_for(50ms);  // the schedule's clock
          if (st.stop_requested()) {
            ++kafka_dropped;
            continue;
          }
          step.run();
        }
      } catch (...) {
        kafka_failed = std::current_exception();
      }
    });

  // The database must come back whatever happens below.
  struct DbGuard {
    const Options& o;
    bool& down;
    bool& frozen;
    ~DbGuard() {
      if (frozen) run_cmd({o.pgctl, "thaw"}, {}, o.logdir + "/pgctl.log");
      if (down) run_cmd({o.pgctl, "start"}, {}, o.logdir + "/pgctl.log");
    }
  } db_guard{o, db_down, db_frozen};

  for (auto& step : plan) {
    while (Clock::now() < step.when) {
      std::this_thread::sleep_for(50ms);  // the schedule's clock, not synchronisation
      check_interrupted(o);
      if (!a.running()) {
        log("worker-a exited by itself: a crash; restarting it");
        ++crashes;
        a.start();
      }
    }
    log(step.what);
    step.run();
  }
  for (auto& p : producers) {
    const auto until = Clock::now() + std::chrono::seconds(o.duration_s + 120);
    while (p->running() && Clock::now() < until) {
      std::this_thread::sleep_for(100ms);
      check_interrupted(o);
    }
    p->wait_or_kill(0ms);  // reaps it (SIGKILL if it overran)
  }
  direct.request_stop();
  direct.join();
  // A node's restart can take a minute on a busy machine, so the cluster's
  // faults may run behind their schedule: the one under way finishes, the
  // rest are dropped (and counted) rather than stretching the run.
  if (kafka_faults.joinable()) {
    kafka_faults.request_stop();
    kafka_faults.join();
  }
  if (kafka_failed) std::rethrow_exception(kafka_failed);
  if (real) real->restore();
  log("producers done; waiting for every event to have an outcome");

  // Catching up: every input event has an outcome and every dead letter is on its topic.
  VerifyInputs in;
  in.limits.max_event_bytes = cfg.limits.max_event_bytes;
  in.limits.max_depth = cfg.limits.max_depth;
  std::vector<InvariantCheck> checks;
  std::string dropped;
  auto last_note = Clock::now();
  const bool caught_up = poll_until(300s, [&] {
    check_interrupted(o);
    if (!a.running()) {
      log("worker-a exited by itself: a crash; restarting it");
      ++crashes;
      a.start();
    }
    try {
      // Reading everything back takes longer the more there is (a soak has
      // hundreds of thousands of messages): at least 60 s, a quarter of the run.
      const auto read_timeout = std::max<std::chrono::milliseconds>(60s, std::chrono::seconds(o.duration_s / 4));
      in.events = read_topics(brokers, {}, kTopics, read_timeout);
      in.dead_letters = read_topics(brokers, {}, {cfg.kafka.dead_letter_topic}, read_timeout);
      dropped = dropped_by_broker(*in.events) + dropped_by_broker(*in.dead_letters);
      if (!dropped.empty()) return true;  // nothing to wait for: see below
      checks = verify(url, cfg.machines, in);
    } catch (const std::exception& e) {
      log(std::string("not yet: ") + e.what());
      return false;
    }
    const bool done = checks.front().ok() && checks.back().ok();
    if (!done && Clock::now() - last_note >= 15s) {
      last_note = Clock::now();
      log("not yet: " + std::to_string(checks.front().violations) + " input events without an outcome, " +
          std::to_string(checks.back().violations) + " dead letters not on their topic");
    }
    return done;
  }, 2s);
  if (!dropped.empty())
    throw std::runtime_error("the development broker dropped the oldest messages of" + dropped +
                             " (it keeps ~5 MiB / 100k per partition): the run cannot be verified; use a lower "
                             "--rate or --duration");
  log(caught_up ? "caught up" : "did not catch up within 300 s");
  // What could not be read is reported as nothing read (verify says SKIP for it).
  const std::vector<Message> none;
  const auto& events_read = in.events ? *in.events : none;
  const auto& dead_read = in.dead_letters ? *in.dead_letters : none;
  const auto ready_since = Clock::now();
  const bool ready = poll_until(120s, [&] { return a.ready(); }, 200ms);
  const double ready_after = std::chrono::duration<double>(Clock::now() - ready_since).count();

  // The group's committed offsets reach every partition's end (nothing would be re-read).
  std::map<TopicPartition, int64_t> ends;
  for (const auto& m : events_read) {
    auto& e = ends[TopicPartition{m.topic, m.partition, 0}];
    e = std::max(e, m.offset + 1);
  }
  std::string behind;
  const bool committed = poll_until(60s, [&] {
    behind.clear();
    try {
      Consumer probe(brokers, group, {}, {});  // never joins the group
      std::vector<TopicPartition> parts;
      for (const auto& [tp, end] : ends) parts.push_back(tp);
      for (const auto& c : probe.committed(parts, 5s))
        if (c.offset != ends[c])
          behind += " " + c.topic + "/" + std::to_string(c.partition) + "@" + std::to_string(c.offset) + "<" +
                    std::to_string(ends[c]);
    } catch (const KafkaError& e) {
      behind = e.what();
    }
    return behind.empty();
  }, 500ms);
  const int rc_a = a.terminate(30s);
  checks = verify(url, cfg.machines, in);  // after the last commit

  // What happened.
  std::set<std::string> ids;
  std::map<std::string, long> per_topic;
  for (const auto& m : events_read) {
    ++per_topic[m.topic];
    ids.insert(idempotency_key_for(parse_event(m.value, m.key, in.limits),
                                   SourceRef{m.topic, "", m.partition, m.offset, m.timestamp_ms}, m.value, m.key));
  }
  pqxx::connection conn(url);
  pqxx::nontransaction tx(conn);
  std::string outcomes;
  for (const auto& row : tx.exec("SELECT outcome || coalesce('/' || reason, ''), count(*) FROM processed_events "
                                 "WHERE event_id NOT LIKE 'direct-%' GROUP BY 1 ORDER BY 1"))
    outcomes += " " + row[0].as<std::string>() + "=" + row[1].as<std::string>();

  std::cout << "\nevents produced: " << events_read.size() << " (";
  for (const auto& [t, n] : per_topic) std::cout << t << " " << n << (t == per_topic.rbegin()->first ? "" : ", ");
  std::cout << "), " << ids.size() << " distinct event ids, " << (events_read.size() - ids.size())
            << " re-sent (duplicates)\n";
  std::cout << "outcomes:" << outcomes << "\n";
  std::cout << "direct writes: " << direct_written << " applied through the store's CAS (" << direct_lost
            << " lost a CAS and re-read, " << direct_errors << " failed while the database was down)\n";
  std::cout << "dead-letter messages: " << dead_read.size() << "\n";
  std::cout << "kills: " << kills << " (SIGKILL, then restart)\n";
  std::cout << "database restarts: " << db_restarts << (o.pgctl.empty() ? " (--pgctl none)" : " (fast shutdown, start)")
            << "\n";
  int broker_total = 0;
  std::string broker_kinds;
  for (const auto& [kind, count] : broker_faults) {
    broker_total += count;
    broker_kinds += (broker_kinds.empty() ? "" : "; ") + kind + " " + std::to_string(count);
  }
  std::cout << "broker faults (" << (real ? "real Kafka, 3 nodes" : "development broker") << "): " << broker_total
            << (broker_kinds.empty() ? "" : " (" + broker_kinds + ")")
            << (kafka_dropped ? "; " + std::to_string(kafka_dropped) + " not run: they fell behind the schedule" : "")
            << "\n";
  std::cout << "rebalances: " << (joins + leaves + kills) << " (second worker joined " << joins << ", left " << leaves
            << "; " << kills << " restarts after a kill)\n";
  std::cout << "worker crashes: " << crashes << "\n\n";

  // Per fault class: how quickly worker-a's /readyz (the fourth worker's for
  // the network partitions) turned 503 (or stopped answering) after the fault
  // began, and 200 again after it ended.
  std::vector<std::pair<std::string, bool>> readiness_checks;
  std::printf("%-36s %5s  %-24s %-24s\n", "fault class", "count", "not-ready after (max)", "ready again after (max)");
  for (const auto& [cls, list] : windows) {
    ReadyMonitor& ready_a = cls.rfind("network:", 0) == 0 ? ready_n : ready_a_;
    double worst_down = 0, worst_up = 0;
    bool all_down = true, all_up = true;
    int unmeasured = 0;  // began while worker-a was not ready anyway (a kill, an earlier fault)
    for (const auto& [start, end] : list) {
      if (end == Clock::time_point{}) continue;
      if (ready_a.before(start) != 200) ++unmeasured;
      const auto down = ready_a.first(start, end + 30s, [](int s) { return s != 200; });
      const auto up = ready_a.first(std::max(end, down.value_or(end)), end + 180s, [](int s) { return s == 200; });
      if (down && ready_a.before(start) == 200)
        worst_down = std::max(worst_down, std::chrono::duration<double>(*down - start).count());
      else if (!down)
        all_down = false;
      if (up)
        worst_up = std::max(worst_up, std::chrono::duration<double>(*up - end).count());
      else
        all_up = false;
    }
    const auto secs = [](bool ok, double s) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.1f s", s);
      return ok ? std::string(buf) : std::string("never");
    };
    const std::string down_text =
        secs(all_down, worst_down) + (unmeasured ? " (" + std::to_string(unmeasured) + " began not ready)" : "");
    std::printf("%-36s %5zu  %-24s %-24s\n", cls.c_str(), list.size(), down_text.c_str(),
                secs(all_up, worst_up).c_str());
    readiness_checks.push_back({cls + ": /readyz 503 during the fault (goal < 15 s: " + down_text +
                                    "), 200 again after it (" + secs(all_up, worst_up) + ")",
                                all_down && all_up});
  }
  std::cout << "\n";

  long violations = 0;
  for (const auto& ch : checks) {
    std::cout << format(ch) << "\n";
    if (!ch.ok()) violations += std::max(1L, ch.violations);
  }
  auto line = [&](bool ok, const std::string& text) {
    std::cout << (ok ? "PASS  " : "FAIL  ") << text << "\n";
    if (!ok) ++violations;
  };
  // The load itself: a producer that stopped producing (as librdkafka's
  // idempotent producer did after a fatal error, before the Producer replaced
  // its handle) would leave the rest of the run without events to check.
  const long planned = 2L * std::max(1, o.rate / 50) * 50 * o.duration_s;
  const auto on_topics = static_cast<long>(events_read.size());
  line(on_topics * 10 >= planned * 9, "the producers kept their rate: " + std::to_string(on_topics) + " of " +
                                          std::to_string(planned) + " planned messages are on the input topics");
  line(caught_up, "every input event got its outcome after the faults (within 300 s)");
  line(ready, "the worker is ready again without operator action (/readyz 200" +
                  (ready ? " after " + std::to_string(static_cast<int>(ready_after * 1000)) + " ms)" : ")"));
  line(committed, "the group's committed offsets reach every partition's end" + (committed ? "" : ":" + behind));
  line(rc_a == 0, "the worker exits 0 on SIGTERM (exit " + std::to_string(rc_a) + ")");
  line(crashes == 0, "no worker crashed (" + std::to_string(crashes) + ")");
  for (const auto& [text, ok] : readiness_checks) line(ok, text);
  std::cout << "\nviolations: " << violations << "\n";
  return violations == 0 ? 0 : 1;
}

}  // namespace
}  // namespace lockstep::chaos

int main(int argc, char** argv) {
  using namespace lockstep::chaos;
  try {
    if (argc > 1 && std::string(argv[1]) == "produce") {
      std::map<std::string, std::string> a;
      for (int i = 2; i + 1 < argc; i += 2) a[argv[i]] = argv[i + 1];
      for (const char* k : {"--brokers", "--topic", "--seed", "--rate", "--keys", "--seconds"})
        if (!a.count(k)) usage(std::string("produce: ") + k + " is required");
      return produce(a);
    }
    // Block the stop signals in every thread, and turn them into a flag the run checks.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::atomic<bool> interrupted{false};
    std::thread([set, &interrupted]() mutable {
      int sig = 0;
      while (sigwait(&set, &sig) == 0) interrupted = true;
    }).detach();
    auto o = parse(argc, argv);
    o.interrupted = &interrupted;
    return run(o);
  } catch (const std::exception& e) {
    std::cerr << "lockstep-chaos: " << e.what() << "\n";
    return 1;
  }
}
