// lockstep-bench: the whole pipeline (broker -> worker -> PostgreSQL), batched
// Lockstep against the naive one-transaction-per-event mode on the same data,
// plus the batched compare-and-set ceiling of the same database, in one run.
//
// It starts librdkafka's mock cluster in-process (--kafka dev) or creates
// fresh topics for each mode on a real Apache Kafka cluster (--kafka real),
// loads a generated workload into them, and for each mode creates a fresh
// database, migrates it, runs `lockstep run` as a child process (so its CPU
// time and peak RSS are its own), and waits until every message has an
// outcome. Latency percentiles come from the worker's own
// lockstep_event_duration_seconds histogram (consumed -> durable outcome),
// interpolated within buckets as histogram_quantile() does.
#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <utility>  // Boost 1.74's Asio uses std::exchange without including it

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "callgrind.hpp"
#include "direct_writer.hpp"
#include "lockstep/config.hpp"
#include "lockstep/kafka.hpp"
#include "pg_costs.hpp"
#include "proc_cpu.hpp"
#include "run_topics.hpp"
#include "lockstep/kit/args.hpp"
#include "lockstep/kit/net.hpp"
#include "lockstep/kit/pg.hpp"
#include "lockstep/kit/poll.hpp"
#include "lockstep/kit/process.hpp"
#include "workload.hpp"

extern char** environ;

namespace lockstep::bench {
namespace {

// PREFIX then N, built by appending: a short literal + std::to_string(n) trips
// GCC 12's false -Wrestrict at -O3 (GCC bug 105329), and Release builds with -Werror.
std::string numbered(std::string_view prefix, long long n) {
  std::string s(prefix);
  s += std::to_string(n);
  return s;
}


using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using namespace lockstep::kit;

// batch.max_wait_ms of the worker counted under callgrind (instructions mode).
constexpr int kCountedBatchWaitMs = 2000;

constexpr const char* kUsage = R"(usage: lockstep-bench [options]
  --events N         events in the workload (default 200000)
  --keys K           distinct aggregates, 1..1000000 (default 10000)
  --partitions P     partitions per input topic (default 8)
  --skew S           0 = uniform keys, > 0 = Zipf exponent (default 0)
  --naive-events N   how many of the same events the naive mode processes
                     (default 20000; it runs at a few hundred per second)
  --modes LIST       of lockstep,naive,ceiling,paced,hot,hot-cas,instructions
                     (default all but instructions):
                     lockstep/naive: the backlog is in the broker before the
                       worker starts (maximum throughput);
                     ceiling: the database's batched-CAS ceiling on
                       Lockstep's tables (and on minimal tables);
                     paced: Lockstep on the same events produced at --rate
                       while it runs (open loop: latency below saturation);
                     hot: Lockstep on the workload with --hot-share of the
                       events on one key; compares the other keys' throughput
                       with the lockstep run's
                     hot-cas: hot, while a thread of the benchmark updates
                       the hot key directly in the database every 2 ms, so
                       that its compare-and-set keeps losing
                     instructions: the worker's instructions per event under
                       callgrind, on the first --instruction-events events
                       (all through one topic, batch.max_wait_ms 2000) and a
                       fresh database, --instruction-runs times (about 30 s
                       each), and the spread between the runs
  --rate R           events/s for paced (default: half the lockstep run's)
  --hot-share F      share of events on the hot key for hot and hot-cas,
                     0..0.5 (default 0.01)
  --instruction-events N
                     events of the instructions mode (default 5000)
  --instruction-runs N
                     how often the instructions mode counts them, to show
                     that the figure repeats (default 2)
  --valgrind PATH    valgrind for the instructions mode (default /usr/bin/valgrind)
  --database-url U   an existing database to derive scratch databases from
                     (default $LOCKSTEP_DATABASE_URL)
  --lockstep PATH    the worker binary (default: lockstep next to this binary)
  --seed N           workload seed (default 42)
  --kafka dev|real   dev (default): the development broker (librdkafka's mock
                     cluster, in this process); real: the Apache Kafka cluster
                     of --brokers, with fresh topics for each mode run
                     (bench-<pid>-<time>-<mode>.bot/.api/.dlq, --partitions
                     each, the cluster's default replication factor), deleted
                     after the run
  --brokers LIST     --kafka real: bootstrap servers (default
                     $LOCKSTEP_KAFKA_BROKERS)
  --kafka-version V  --kafka real: the broker's version, only for the header
                     line (scripts/bench passes it)
  --config FILE      the worker's configuration (default: the built-in one);
                     the benchmark sets its topics (kafka.topics,
                     dead_letter_topic and, when set, outcome_topic) per run
Extra worker settings go through the usual LOCKSTEP_* environment.
Besides the throughput table, a "per event" table gives each mode's WAL
bytes, heap tuples and index entries written, share of HOT updates,
statements (pg_stat_statements, when the server preloads it; else "-") and
transactions, and the worker's CPU microseconds, each divided by the run's
events (docs/benchmark.md).
The development broker answers a fetch that finds no data only after
fetch.wait.max.ms (librdkafka default 500 ms), where Kafka answers as soon as
data arrives: on it, without --config, the worker gets
kafka.properties fetch.wait.max.ms=10, which keeps the open-loop (paced) run
from seeing half-second bursts that a real broker would not produce.
)";

struct Options {
  WorkloadOptions workload;
  int partitions = 8;
  std::size_t naive_events = 20000;
  std::vector<std::string> modes = {"lockstep", "naive", "ceiling", "paced", "hot", "hot-cas"};
  std::optional<double> rate;
  double hot_share = 0.01;
  std::size_t instruction_events = 5000;
  int instruction_runs = 2;
  std::string valgrind = "/usr/bin/valgrind";
  std::string database_url;
  std::string lockstep;
  std::optional<std::string> config;
  bool real_kafka = false;
  std::string brokers;  // --kafka real
  std::string kafka_version;
};

[[noreturn]] void usage(const std::string& msg) { fail_usage("lockstep-bench", kUsage, msg); }

long long number(const std::string& flag, const std::string& v, long long lo, long long hi) {
  return integer_option(flag, v, lo, hi, usage);
}

double real(const std::string& flag, const std::string& v, double lo, double hi) {
  try {
    std::size_t used = 0;
    const double d = std::stod(v, &used);
    if (used == v.size() && d >= lo && d <= hi) return d;
  } catch (const std::exception&) {
  }
  usage(flag + ": expected a number in " + std::to_string(lo) + ".." + std::to_string(hi) + " (got \"" + v + "\")");
}

bool has_mode(const Options& o, const std::string& m) {
  return std::find(o.modes.begin(), o.modes.end(), m) != o.modes.end();
}

Options parse(int argc, char** argv) {
  Options o;
  if (const char* u = std::getenv("LOCKSTEP_DATABASE_URL")) o.database_url = u;
  if (const char* b = std::getenv("LOCKSTEP_KAFKA_BROKERS")) o.brokers = b;
  o.lockstep = (std::filesystem::path(argv[0]).parent_path() / "lockstep").string();
  for_each_option(argc, argv, kUsage, usage, [&](const std::string& a, const std::string& v) {
    if (a == "--events") o.workload.events = static_cast<std::size_t>(number(a, v, 1, 100000000));
    else if (a == "--keys") o.workload.keys = static_cast<std::size_t>(number(a, v, 1, 1000000));
    else if (a == "--partitions") o.partitions = static_cast<int>(number(a, v, 1, 256));
    else if (a == "--naive-events") o.naive_events = static_cast<std::size_t>(number(a, v, 1, 100000000));
    else if (a == "--seed") o.workload.seed = static_cast<uint64_t>(number(a, v, 0, 1LL << 62));
    else if (a == "--database-url") o.database_url = v;
    else if (a == "--lockstep") o.lockstep = v;
    else if (a == "--config") o.config = v;
    else if (a == "--kafka" && (v == "dev" || v == "real")) o.real_kafka = v == "real";
    else if (a == "--kafka") usage("--kafka: expected dev or real (got \"" + v + "\")");
    else if (a == "--brokers") o.brokers = v;
    else if (a == "--kafka-version") o.kafka_version = v;
    else if (a == "--skew") o.workload.skew = real(a, v, 0, 5);
    else if (a == "--rate") o.rate = real(a, v, 1, 10000000);
    else if (a == "--hot-share") o.hot_share = real(a, v, 0.0001, 0.5);
    else if (a == "--instruction-events") o.instruction_events = static_cast<std::size_t>(number(a, v, 1, 1000000));
    else if (a == "--instruction-runs") o.instruction_runs = static_cast<int>(number(a, v, 1, 10));
    else if (a == "--valgrind") o.valgrind = v;
    else if (a == "--modes") {
      o.modes.clear();
      std::stringstream ss(v);
      for (std::string m; std::getline(ss, m, ',');) {
        if (m != "lockstep" && m != "naive" && m != "ceiling" && m != "paced" && m != "hot" && m != "hot-cas" &&
            m != "instructions")
          usage("--modes: unknown mode " + m);
        o.modes.push_back(m);
      }
    } else {
      usage("unknown option " + a);
    }
  });
  if (o.database_url.empty()) usage("--database-url (or LOCKSTEP_DATABASE_URL) is required");
  if (o.real_kafka && o.brokers.empty()) usage("--kafka real needs --brokers (or LOCKSTEP_KAFKA_BROKERS)");
  if (has_mode(o, "paced") && !o.rate && !has_mode(o, "lockstep")) usage("--modes paced needs --rate or the lockstep mode");
  if (has_mode(o, "instructions") && !std::filesystem::exists(o.valgrind))
    usage("--modes instructions: valgrind not found at " + o.valgrind + " (use --valgrind)");
  return o;
}

// Sum of every sample of a family (all label sets); nullopt if absent.
double family_sum(const std::string& text, const std::string& name) {
  double sum = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(name, 0) != 0) continue;
    const char next = line.size() > name.size() ? line[name.size()] : '\0';
    if (next != ' ' && next != '{') continue;
    sum += std::atof(line.c_str() + line.rfind(' ') + 1);
  }
  return sum;
}

// lockstep_event_duration_seconds_bucket{le=...}: le -> cumulative count.
std::map<double, double> duration_buckets(const std::string& text) {
  std::map<double, double> buckets;
  const std::string prefix = "lockstep_event_duration_seconds_bucket{le=\"";
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) != 0) continue;
    const auto end = line.find('"', prefix.size());
    const std::string le = line.substr(prefix.size(), end - prefix.size());
    const double bound = le == "+Inf" ? INFINITY : std::atof(le.c_str());
    buckets[bound] = std::atof(line.c_str() + line.rfind(' ') + 1);
  }
  return buckets;
}

// histogram_quantile over the event-duration histogram, of the events observed
// after `since` (an earlier scrape; empty: all of them).
double quantile(const std::string& text, double q, const std::string& since = "") {
  std::vector<std::pair<double, double>> buckets;  // (le, cumulative count)
  const auto before = duration_buckets(since);
  for (const auto& [le, count] : duration_buckets(text)) {
    const auto it = before.find(le);
    buckets.emplace_back(le, count - (it == before.end() ? 0 : it->second));
  }
  if (buckets.empty() || buckets.back().second <= 0) return NAN;
  const double rank = q * buckets.back().second;
  double lo = 0, below = 0;
  for (const auto& [le, count] : buckets) {
    if (count >= rank) {
      if (std::isinf(le)) return lo;  // beyond the last finite bucket: report its bound
      const double in_bucket = count - below;
      return in_bucket <= 0 ? le : lo + (le - lo) * (rank - below) / in_bucket;
    }
    lo = le;
    below = count;
  }
  return lo;
}

// ---------------------------------------------------------------------------
struct RunResult {
  std::string mode;
  std::size_t events = 0;
  double seconds = 0;
  double p50 = NAN, p95 = NAN, p99 = NAN;
  double cpu = 0, rss = 0;
  std::map<std::string, long> outcomes;
  double others_rate = 0;  // outcomes/s of every key but m-0 (the hot key of the hot mode)
  EventCosts costs;
  long long direct_updates = 0;  // hot-cas: the direct writer's updates of m-0
  bool ok = false;
  std::string error;
};

struct RunSpec {
  std::string mode;    // also names the scratch database
  std::string brokers;
  std::string config;  // the worker's configuration file
  std::size_t target = 0;  // outcomes to wait for
  bool naive = false;
  // Produces events while the worker runs (open loop), started once the
  // worker has given `warmup` outcomes (the events already in the broker);
  // latency percentiles then cover only what came after. Empty: every event
  // is in the broker before the worker starts.
  std::function<void(std::stop_token)> feed;
  std::size_t warmup = 0;
  // Goes before the worker's command line (e.g. valgrind and its options).
  std::vector<std::string> wrapper = {};
  // hot-cas: a direct writer of m-0 from the worker's readiness on.
  bool contend = false;
  // How often the worker's /metrics is read for progress. Each read takes
  // the locks of its metric families, which the pipeline takes too.
  std::chrono::milliseconds scrape_every = std::chrono::milliseconds(20);
};

RunResult run_worker(const Options& o, const RunSpec& spec, CostProbe& probe, const std::string& logdir) {
  const std::string& mode = spec.mode;
  const std::string& brokers = spec.brokers;
  const std::size_t target = spec.target;
  RunResult r;
  r.mode = mode;
  r.events = target;
  const std::string db = "lockstep_bench_" + mode;
  const std::string url = with_database(o.database_url, db);
  recreate_database(o.database_url, db);
  const std::string log = logdir + "/" + mode + ".log";
  const int port = free_port();
  std::map<std::string, std::string> env = {{"LOCKSTEP_DATABASE_URL", url},
                                            {"LOCKSTEP_KAFKA_BROKERS", brokers},
                                            {"LOCKSTEP_KAFKA_GROUP_ID", "bench-" + mode + "-" + std::to_string(::getpid())},
                                            {"LOCKSTEP_METRICS_LISTEN", "127.0.0.1:" + std::to_string(port)},
                                            {"LOCKSTEP_LOG_LEVEL", "warn"}};
  const std::vector<std::string> migrate = {o.lockstep, "migrate", "up", "--config", spec.config};
  std::vector<std::string> run = spec.wrapper;
  for (const auto& a : {o.lockstep, std::string("run"), std::string("--config"), spec.config}) run.push_back(a);
  if (spec.naive) run.push_back("--naive");
  if (const int rc = run_cmd(migrate, env, log); rc != 0) {
    r.error = "lockstep migrate up exited " + std::to_string(rc) + " (see " + log + ")";
    return r;
  }
  const PgCounters before = probe.read(db);
  std::atomic<long long> direct_updates{0};
  std::string writer_error;  // written by the writer before it ends
  std::jthread writer;       // hot-cas; stopped once every event has its outcome

  const double bench_cpu_at_start = own_cpu_seconds();
  Process worker(run, env, log, Stdout::log);
  std::string feed_error;            // written by the feeder, then feed_failed set
  std::atomic<bool> feed_failed{false};
  std::jthread feeder;  // joins (after a stop request) on every way out; declared after what it uses
  std::optional<Clock::time_point> first;
  Clock::time_point last_progress = Clock::now();
  double done = 0, last_done = -1;
  std::string metrics;
  std::string warm;  // open loop: the scrape when the feed started
  while (done < static_cast<double>(target)) {
    if (!worker.running()) {
      r.error = "worker exited early (see " + log + ")";
      return r;
    }
    if (feed_failed) {
      feeder.join();
      r.error = "producing the paced events: " + feed_error;
      return r;
    }
    if (auto [status, body] = http_get(port, "/metrics"); status == 200) {
      metrics = std::move(body);
      done = family_sum(metrics, "lockstep_events_total");
      if (spec.feed && !feeder.joinable() && done >= static_cast<double>(spec.warmup) &&
          http_get(port, "/readyz").first == 200) {
        warm = metrics;
        feeder = std::jthread([&spec, &feed_error, &feed_failed](std::stop_token st) {
          try {
            spec.feed(st);
          } catch (const std::exception& e) {
            feed_error = e.what();
            feed_failed = true;
          }
        });
      }
      if (spec.contend && !writer.joinable() && http_get(port, "/readyz").first == 200)
        writer = std::jthread([&url, &direct_updates, &writer_error](std::stop_token st) {
          try {
            write_directly(url, "m-0", 2ms, direct_updates, st);
          } catch (const std::exception& e) {
            writer_error = e.what();
          }
        });
      if (done > 0 && !first) first = Clock::now();
      if (done != last_done) {
        last_done = done;
        last_progress = Clock::now();
      }
    }
    if (Clock::now() - last_progress > 120s) {
      r.error = "no progress for 120 s at " + std::to_string(static_cast<long>(done)) + " of " +
                std::to_string(target) + " events (see " + log + ")";
      return r;
    }
    std::this_thread::sleep_for(spec.scrape_every);  // pacing the scrapes
  }
  const auto end = Clock::now();
  r.seconds = std::chrono::duration<double>(end - *first).count();
  // Neither the feed nor the direct writer is connected to anything by the time the costs are read.
  for (auto* t : {&feeder, &writer}) {
    if (!t->joinable()) continue;
    t->request_stop();
    t->join();
  }
  r.direct_updates = direct_updates;
  if (!writer_error.empty()) r.error = "the direct writer of m-0: " + writer_error;
  // The dead-letter relay publishes each dead letter's message and then marks
  // its row: work of this run's events, so it counts in their costs (WAL, CPU)
  // before the worker stops, though not in `seconds`. Without the wait, how
  // much of it fell inside the run depended on how far the relay lagged.
  {
    long long unpublished = -1;
    pqxx::connection c(url);
    const bool drained = poll_until(
        120s,
        [&] {
          pqxx::nontransaction q(c);
          unpublished = q.exec1("SELECT count(*) FROM dead_letters WHERE published_at IS NULL")[0].as<long long>();
          return unpublished == 0 || !worker.running();
        },
        50ms);
    if (!drained && r.error.empty())
      r.error = "the dead-letter relay left " + std::to_string(unpublished) +
                " dead letters unpublished 120 s after the last outcome (see " + log + ")";
  }
  r.p50 = quantile(metrics, 0.50, warm) * 1000;
  r.p95 = quantile(metrics, 0.95, warm) * 1000;
  r.p99 = quantile(metrics, 0.99, warm) * 1000;
  r.rss = worker.peak_rss_mib().value_or(NAN);
  worker.signal(SIGTERM);
  const int rc = worker.wait_or_kill(60s);
  r.cpu = worker.cpu_seconds();
  const double bench_cpu = own_cpu_seconds() - bench_cpu_at_start;
  if (rc != 0) r.error = "worker exited " + std::to_string(rc) + " after SIGTERM (see " + log + ")";
  const PgCounters after = probe.read(db);

  pqxx::connection c(url);
  pqxx::read_transaction tx(c);
  for (const auto& row : tx.exec("SELECT outcome || coalesce('/' || reason, ''), count(*) FROM processed_events GROUP BY 1 ORDER BY 1"))
    r.outcomes[row[0].as<std::string>()] = row[1].as<long>();
  // processed_at is the time of each batch's transaction: the span from the
  // first to the last batch that carried another key than m-0.
  const auto others = tx.exec1(
      "SELECT count(*), extract(epoch FROM max(processed_at) - min(processed_at))::float8 "
      "FROM processed_events WHERE aggregate_id IS DISTINCT FROM 'm-0'");
  if (!others[1].is_null() && others[1].as<double>() > 0) r.others_rate = others[0].as<double>() / others[1].as<double>();
  // Per event of the run: the worker may have gone on past `target` while
  // draining what it had consumed at SIGTERM (naive, on the shared backlog);
  // then per recorded outcome.
  long recorded = 0;
  for (const auto& [outcome, n] : r.outcomes) recorded += n;
  r.costs = per_event(before, after, std::max(target, static_cast<std::size_t>(recorded)), {r.cpu, bench_cpu});
  r.ok = r.error.empty();
  return r;
}

// The database's own ceiling for what Lockstep must write per transition: one
// set-based statement per transaction of 500 distinct rows that does the
// compare-and-set (the same jsonb_to_recordset shape Lockstep uses) and appends
// the audit and processed_events rows, on a single connection with
// synchronous commit. No reads, no decisions, no dead letters, no Kafka: an
// upper bound. `contract_tables`: on the schema of `lockstep migrate up` with
// every column Lockstep fills (what the target is measured against);
// otherwise on three minimal tables (id, version, data; no source, actor or
// state columns, one index fewer on the audit), shown for reference.
struct Ceiling {
  double rate = 0;  // transitions/s
  EventCosts costs;
};

Ceiling measure_ceiling(const Options& o, std::size_t transitions, bool contract_tables, const std::string& config,
                        CostProbe& probe, const std::string& logdir) {
  const std::string db = contract_tables ? "lockstep_bench_ceiling" : "lockstep_bench_ceiling_min";
  const std::string url = with_database(o.database_url, db);
  recreate_database(o.database_url, db);
  const std::size_t keys = std::max<std::size_t>(o.workload.keys, 500);
  std::string cas;  // the statement, prepared on the measured connection
  if (contract_tables) {
    const std::vector<std::string> migrate = {o.lockstep, "migrate", "up", "--config", config};
    const std::string log = logdir + "/ceiling.log";
    if (run_cmd(migrate, {{"LOCKSTEP_DATABASE_URL", url}}, log) != 0)
      throw std::runtime_error("ceiling: lockstep migrate up failed (see " + log + ")");
    pqxx::connection c(url);
    pqxx::work tx(c);
    tx.exec_params(
        "INSERT INTO aggregates (aggregate_type, aggregate_id, state, version, data, updated_by) "
        "SELECT 'membership', 'm-' || g, 'active', 1, jsonb_build_object('guild', 'g-' || g % 97, 'nick', 'user' || g), "
        "'bot:guardian' FROM generate_series(0, $1::int - 1) g",
        static_cast<long>(keys));
    tx.commit();
    cas = R"(
      WITH x AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(
          event_id text, aggregate_type text, aggregate_id text, transition text, from_state text, to_state text,
          read_version bigint, data jsonb, actor text, source text, source_topic text, source_partition int,
          source_offset bigint, occurred_at text)),
      u AS (UPDATE aggregates a SET state = x.to_state, version = a.version + 1, data = x.data,
                   updated_at = now(), updated_by = x.actor
              FROM x WHERE a.aggregate_type = x.aggregate_type AND a.aggregate_id = x.aggregate_id
               AND a.version = x.read_version AND a.state = x.from_state
            RETURNING x.event_id),
      au AS (INSERT INTO transition_audit (aggregate_type, aggregate_id, event_id, transition, from_state, to_state,
                                           from_version, to_version, source, actor, source_topic, source_partition,
                                           source_offset, occurred_at)
             SELECT x.aggregate_type, x.aggregate_id, x.event_id, x.transition, x.from_state, x.to_state,
                    x.read_version, x.read_version + 1, x.source, x.actor, x.source_topic, x.source_partition,
                    x.source_offset, x.occurred_at FROM x JOIN u USING (event_id)),
      pe AS (INSERT INTO processed_events (event_id, outcome, aggregate_type, aggregate_id, version, state)
             SELECT x.event_id, 'applied', x.aggregate_type, x.aggregate_id, x.read_version + 1, x.to_state
               FROM x JOIN u USING (event_id))
      SELECT count(*) FROM u)";
  } else {
    pqxx::connection c(url);
    pqxx::work tx(c);
    tx.exec("CREATE TABLE agg (id text PRIMARY KEY, state text NOT NULL, version bigint NOT NULL, data jsonb NOT NULL)");
    tx.exec("CREATE TABLE audit (seq bigserial PRIMARY KEY, id text NOT NULL, event_id text NOT NULL, "
            "from_version bigint NOT NULL, to_version bigint NOT NULL, at timestamptz NOT NULL DEFAULT now(), "
            "UNIQUE (id, to_version))");
    tx.exec("CREATE TABLE processed (event_id text PRIMARY KEY, outcome text NOT NULL, version bigint, "
            "at timestamptz NOT NULL DEFAULT now())");
    tx.exec_params("INSERT INTO agg SELECT 'm-' || g, 'active', 1, '{}' FROM generate_series(0, $1::int - 1) g",
                   static_cast<long>(keys));
    tx.commit();
    cas = R"(
      WITH x AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(id text, v bigint, patch jsonb, e text)),
      u AS (UPDATE agg a SET version = a.version + 1, data = a.data || x.patch
            FROM x WHERE a.id = x.id AND a.version = x.v AND a.state = 'active'
            RETURNING a.id, a.version),
      au AS (INSERT INTO audit (id, event_id, from_version, to_version)
             SELECT u.id, x.e, u.version - 1, u.version FROM u JOIN x USING (id)),
      pe AS (INSERT INTO processed (event_id, outcome, version)
             SELECT x.e, 'applied', u.version FROM u JOIN x USING (id))
      SELECT count(*) FROM u)";
  }
  const PgCounters before = probe.read(db);
  auto c = std::make_optional<pqxx::connection>(url);
  c->prepare("cas", cas);
  static const char* const kActors[] = {"bot:guardian", "api:admin-ui", "api:self-service"};
  std::vector<int64_t> version(keys, 1);
  std::size_t next = 0, written = 0;
  const auto t0 = Clock::now();
  const double client_cpu_at_start = own_cpu_seconds();
  while (written < transitions) {
    nlohmann::json batch = nlohmann::json::array();
    std::vector<std::size_t> idx;
    for (std::size_t i = 0; i < 500 && written + idx.size() < transitions; ++i) {
      const std::size_t k = next++ % keys;
      const std::size_t n = written + i;
      idx.push_back(k);
      const std::string id = "m-" + std::to_string(k);
      if (contract_tables) {
        batch.push_back({{"event_id", "ceiling-" + std::to_string(n)},
                         {"aggregate_type", "membership"},
                         {"aggregate_id", id},
                         {"transition", "edit"},
                         {"from_state", "active"},
                         {"to_state", "active"},
                         {"read_version", version[k]},
                         {"data", {{"guild", numbered("g-", k % 97)}, {"nick", numbered("n", n)},
                                   {"score", n % 1000}}},
                         {"actor", kActors[n % 3]},
                         {"source", n % 2 ? "api" : "bot"},
                         {"source_topic", n % 2 ? "transitions.api" : "transitions.bot"},
                         {"source_partition", k % 8},
                         {"source_offset", n},
                         {"occurred_at", "2026-11-23T12:00:00.000Z"}});
      } else {
        batch.push_back({{"id", id}, {"v", version[k]}, {"patch", {{"n", n}}}, {"e", "c-" + std::to_string(n)}});
      }
    }
    pqxx::work tx(*c);
    const auto res = tx.exec_prepared("cas", batch.dump());
    tx.commit();
    if (res[0][0].as<std::size_t>() != idx.size())
      throw std::runtime_error("ceiling: a compare-and-set lost with no concurrent writer");
    for (auto k : idx) ++version[k];
    written += idx.size();
  }
  Ceiling result;
  result.rate = static_cast<double>(written) / std::chrono::duration<double>(Clock::now() - t0).count();
  const double client_cpu = own_cpu_seconds() - client_cpu_at_start;
  c.reset();  // closed before the costs are read
  result.costs = per_event(before, probe.read(db), written, {std::nullopt, client_cpu});
  return result;
}

std::string fmt(double v, int prec = 1) {
  if (std::isnan(v)) return "-";
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", prec, v);
  return b;
}

// Produces events[from, to) in chunks (0: one chunk), waiting for every
// delivery; each to its input topic of `topics`.
void send_range(Producer& p, const RunTopics& topics, const std::vector<BenchEvent>& events, std::size_t from,
                std::size_t to, std::size_t chunk_size) {
  std::vector<OutMessage> chunk;
  for (std::size_t i = from; i < to; ++i) {
    chunk.push_back({topics.input_for(events[i].topic), events[i].key, events[i].value, {}});
    if (chunk.size() == chunk_size || i + 1 == to) {
      for (const auto& d : p.send(chunk, 120s))
        if (d.error) throw std::runtime_error("loading the broker: " + d.error.str());
      chunk.clear();
    }
  }
}

// Where one mode's events are: a broker, its topics, and the worker's
// configuration naming them.
struct Stage {
  std::string mode;
  std::string brokers;
  RunTopics topics;
  std::string config;  // file
};

// Loads a whole workload into a stage's topics before the worker starts.
void load(const Stage& stage, const std::vector<BenchEvent>& events) {
  const auto t = Clock::now();
  Producer p(stage.brokers, {{"linger.ms", "5"}, {"batch.num.messages", "10000"}});
  send_range(p, stage.topics, events, 0, events.size(), 20000);
  std::cout << stage.mode << ": " << events.size() << " events loaded in "
            << fmt(std::chrono::duration<double>(Clock::now() - t).count(), 1) << " s\n";
}

// The broker side of the benchmark. --kafka dev: a development broker (an
// in-process mock cluster) per stage, with the fixed topic names of the
// workload. --kafka real: fresh topics per stage on the cluster of --brokers,
// deleted by done() or at the latest on destruction.
class Broker {
 public:
  Broker(const Options& o, std::string base_config, std::string logdir)
      : o_(o),
        base_(std::move(base_config)),
        outcome_topic_(parse_config(base_, o.config.value_or("<built-in>")).kafka.outcome_topic),
        logdir_(std::move(logdir)) {
    if (!o.real_kafka) return;
    prefix_ = topic_prefix(::getpid(), std::chrono::duration_cast<std::chrono::seconds>(
                                           std::chrono::system_clock::now().time_since_epoch())
                                           .count());
    admin_.emplace(o.brokers, KafkaProps{});
    nodes_ = admin_->broker_count(kAdminTimeout);
  }
  ~Broker() {
    if (admin_) remove(created_);
  }
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  std::string describe() const {
    if (!admin_) return "development broker (librdkafka's mock cluster, in process)";
    return "Apache Kafka" + (o_.kafka_version.empty() ? "" : " " + o_.kafka_version) + " (" +
           std::to_string(nodes_) + (nodes_ == 1 ? " node, " : " nodes, ") + o_.brokers + ")";
  }

  // A new stage for `mode`, its topics empty and ready.
  Stage stage(const std::string& mode) {
    Stage s{mode, o_.brokers, RunTopics{}, logdir_ + "/" + mode + ".yaml"};
    if (admin_) {
      s.topics = fresh_topics(prefix_, mode, !outcome_topic_.empty());
      const auto d = create(s.topics.all());
      std::cout << mode << ": topics " << prefix_ << "-" << mode << ".{bot,api,dlq"
                << (outcome_topic_.empty() ? "" : ",outcomes") << "}, " << d.partitions
                << " partitions, replication factor " << d.replication_factor << "\n";
    } else {
      s.topics.outcomes = outcome_topic_;
      mocks_.push_back(std::make_unique<MockCluster>(1));
      for (const auto& t : s.topics.all()) mocks_.back()->create_topic(t, o_.partitions);
      s.brokers = mocks_.back()->bootstraps();
    }
    // The development broker answers an empty fetch only at fetch.wait.max.ms (see kUsage).
    const bool fetch_hack = !admin_ && !o_.config;
    std::ofstream(s.config) << worker_config(base_, s.topics, fetch_hack ? std::optional<int>(10) : std::nullopt);
    return s;
  }

  // The stage's run is over: its topics go (real Kafka).
  void done(const Stage& s) {
    if (!admin_) return;
    const auto names = s.topics.all();
    remove(names);
    std::erase_if(created_, [&](const std::string& t) {
      return std::find(names.begin(), names.end(), t) != names.end();
    });
  }

 private:
  static constexpr auto kAdminTimeout = 30s;

  // Creates the topics and waits until the metadata has them; the first one's description.
  TopicDescription create(const std::vector<std::string>& names) {
    std::vector<NewTopic> topics;
    // Replication factor -1: the cluster's default.replication.factor.
    for (const auto& n : names) topics.push_back({n, o_.partitions, -1, {}});
    const auto errors = admin_->create(topics, kAdminTimeout);
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (errors[i]) throw std::runtime_error("creating topic " + names[i] + ": " + errors[i].str());
      created_.push_back(names[i]);
    }
    // Every broker's metadata has them before anything is produced or consumed.
    const auto deadline = Clock::now() + kAdminTimeout;
    for (;;) {
      const auto d = admin_->describe(names, kAdminTimeout);
      if (std::all_of(d.begin(), d.end(), [](const TopicDescription& t) { return t.exists; })) return d[0];
      if (Clock::now() > deadline) throw std::runtime_error("created topics missing from the metadata after 30 s");
      std::this_thread::sleep_for(200ms);
    }
  }
  void remove(const std::vector<std::string>& names) {
    try {
      const auto errors = admin_->remove(names, kAdminTimeout);
      for (std::size_t i = 0; i < names.size(); ++i)
        if (errors[i])
          std::cerr << "lockstep-bench: deleting topic " << names[i] << ": " << errors[i].str() << "\n";
    } catch (const std::exception& e) {
      std::cerr << "lockstep-bench: deleting the topics: " << e.what() << "\n";
    }
  }

  const Options& o_;
  std::string base_, outcome_topic_, logdir_, prefix_;
  std::optional<Admin> admin_;
  int nodes_ = 0;
  std::vector<std::string> created_;  // real Kafka: not deleted yet
  std::vector<std::unique_ptr<MockCluster>> mocks_;
};

// librdkafka's mock cluster keeps at most 5 MiB and 100k messages per
// partition, dropping the oldest beyond that (like retention): a backlog
// that does not fit would silently lose its first events.
void check_fits_development_broker(const Options& o, const std::vector<BenchEvent>& events) {
  std::size_t bytes = 0;
  for (const auto& e : events) bytes += e.value.size() + e.key.size() + 64;
  const double per_partition = static_cast<double>(bytes) / (2.0 * o.partitions);
  const double count = static_cast<double>(events.size()) / (2.0 * o.partitions);
  if (per_partition > 4.5 * 1024 * 1024 || count > 90000) {
    const auto need = static_cast<long>(std::max(std::ceil(static_cast<double>(bytes) / (2 * 4.5 * 1024 * 1024)),
                                                 std::ceil(static_cast<double>(events.size()) / (2 * 90000.0))));
    usage("the development broker keeps about 5 MiB / 100k messages per partition: " +
          std::to_string(events.size()) + " events need --partitions " + std::to_string(need) + " or more");
  }
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  if (!in) usage("--config: cannot read " + path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

int main_impl(int argc, char** argv) {
  Options o = parse(argc, argv);
  if (!std::filesystem::exists(o.lockstep)) usage("worker binary not found: " + o.lockstep + " (use --lockstep)");
  const std::string logdir =
      (std::filesystem::temp_directory_path() / ("lockstep-bench." + std::to_string(::getpid()))).string();
  std::filesystem::create_directories(logdir);
  const std::string base_config = o.config ? read_text(*o.config) : builtin_config_text();
  // The ceiling's `lockstep migrate up` reads only the database settings.
  const std::string ceiling_config = logdir + "/ceiling.yaml";
  std::ofstream(ceiling_config) << base_config;
  Broker broker(o, base_config, logdir);
  std::cout << "broker: " << broker.describe() << "\n";

  WorkloadSummary ws;
  const auto events = generate(o.workload, &ws);
  std::cout << "workload: " << events.size() << " events on " << ws.distinct_keys << " keys ("
            << (o.workload.skew > 0 ? "Zipf s=" + fmt(o.workload.skew, 2) : std::string("uniform")) << "), "
            << ws.creates << " creates, " << ws.transitions << " transitions, " << ws.edits << " edits, " << ws.stale
            << " stale expected_version, " << ws.duplicates << " duplicates; both topics, " << o.partitions
            << " partitions each\n";
  if (!o.real_kafka) check_fits_development_broker(o, events);
  std::cout << "worker logs in " << logdir << "\n";

  // A stage loaded with the whole workload. The development broker keeps one
  // for lockstep and naive (each reads it with a group of its own); on real
  // Kafka every mode gets fresh topics.
  std::optional<Stage> shared_backlog;
  auto backlog = [&](const std::string& mode) {
    if (shared_backlog) return *shared_backlog;
    Stage s = broker.stage(mode);
    load(s, events);
    if (!o.real_kafka) shared_backlog = s;
    return s;
  };
  CostProbe probe(o.database_url);
  if (!probe.has_statements())
    std::cout << "pg_stat_statements: not preloaded by the server (statements per event shown as -)\n";
  std::vector<RunResult> results;
  std::optional<RunResult> lockstep_run, hot_run, hot_cas_run;
  if (has_mode(o, "lockstep")) {
    const Stage s = backlog("lockstep");
    results.push_back(run_worker(o, {"lockstep", s.brokers, s.config, events.size(), false, {}}, probe, logdir));
    lockstep_run = results.back();
    broker.done(s);
  }
  if (has_mode(o, "naive")) {
    const Stage s = backlog("naive");
    results.push_back(
        run_worker(o, {"naive", s.brokers, s.config, std::min(o.naive_events, events.size()), true, {}}, probe, logdir));
    broker.done(s);
  }
  std::optional<Ceiling> ceiling, ceiling_min;
  if (has_mode(o, "ceiling")) {
    ceiling = measure_ceiling(o, 100000, true, ceiling_config, probe, logdir);
    ceiling_min = measure_ceiling(o, 100000, false, ceiling_config, probe, logdir);
  }
  std::optional<double> rate = o.rate;
  if (!rate && lockstep_run && lockstep_run->ok) rate = static_cast<double>(lockstep_run->events) / lockstep_run->seconds / 2;
  if (has_mode(o, "paced") && rate) {
    const Stage s = broker.stage("paced");
    const double r = *rate;
    // Warm-up (group join, first connections, plans): the first 5% of the
    // events are in the broker at the start and processed before the clock runs.
    // The same producer then feeds the rest: connected, with both topics' metadata.
    const std::size_t warmup = std::max<std::size_t>(1, events.size() / 20);
    auto producer = std::make_shared<Producer>(s.brokers, KafkaProps{{"linger.ms", "1"}});
    send_range(*producer, s.topics, events, 0, warmup, 20000);
    RunSpec spec{"paced", s.brokers, s.config, events.size(), false, {}, warmup};
    spec.feed = [&events, producer, topics = s.topics, r, warmup](std::stop_token st) {
      // Open loop: the events due by now, in 10 ms steps, whatever the worker does.
      std::size_t sent = warmup;
      const auto t0 = Clock::now();
      while (sent < events.size() && !st.stop_requested()) {
        const double due = static_cast<double>(warmup) + std::chrono::duration<double>(Clock::now() - t0).count() * r;
        const auto upto = std::min(events.size(), static_cast<std::size_t>(due));
        if (upto > sent) send_range(*producer, topics, events, sent, upto, 0);
        sent = std::max(sent, upto);
        std::this_thread::sleep_for(10ms);  // pacing, not synchronisation
      }
    };
    results.push_back(run_worker(o, spec, probe, logdir));
    broker.done(s);
  }
  if (has_mode(o, "hot") || has_mode(o, "hot-cas")) {
    auto wo = o.workload;
    wo.hot_share = o.hot_share;
    const auto hot_events = generate(wo);
    std::optional<Stage> hot_backlog;  // the development broker's, for both modes
    for (const std::string mode : {"hot", "hot-cas"}) {
      if (!has_mode(o, mode)) continue;
      const Stage s = hot_backlog ? *hot_backlog : broker.stage(mode);
      if (!hot_backlog) load(s, hot_events);
      if (!o.real_kafka) hot_backlog = s;
      RunSpec spec{mode, s.brokers, s.config, hot_events.size(), false, {}};
      spec.contend = mode == "hot-cas";
      results.push_back(run_worker(o, spec, probe, logdir));
      (mode == "hot" ? hot_run : hot_cas_run) = results.back();
      broker.done(s);
    }
  }
  // Last, as the slowest: the first events, counted under callgrind. All
  // through one topic, so that each key's events reach the worker in one
  // order (keys map to partitions) and every run decides the same outcomes;
  // with two topics the races between them change the outcome mix (and the
  // work) from run to run.
  std::vector<Instructions> counted;
  std::vector<std::string> count_errors;
  if (has_mode(o, "instructions")) {
    std::vector<BenchEvent> first(events.begin(),
                                  events.begin() + static_cast<long>(std::min(o.instruction_events, events.size())));
    for (auto& e : first) e.topic = "transitions.bot";
    std::optional<Stage> s;
    for (int i = 1; i <= o.instruction_runs; ++i) {
      const std::string mode = numbered("instructions-", i);
      if (!s || o.real_kafka) {
        s = broker.stage(mode);
        load(*s, first);
      }
      const std::string profile = logdir + "/" + mode + ".callgrind";
      // Batches as full as the keys allow: under callgrind the worker runs
      // some 50 times slower, and with the default 5 ms wait the executors
      // would take whatever the consumer thread happened to have handed over,
      // a different number of batches (each with its fixed cost) every run.
      const std::string config = logdir + "/" + mode + ".counted.yaml";
      std::ofstream(config) << with_batch_wait(read_text(s->config), kCountedBatchWaitMs);
      RunSpec spec{mode, s->brokers, config, first.size(), false, {}};
      spec.wrapper = callgrind_prefix(o.valgrind, profile);
      spec.scrape_every = 500ms;  // fewer scrapes contending with the counted code (its run's time is not reported)
      const auto r = run_worker(o, spec, probe, logdir);
      if (r.ok)
        counted.push_back(read_profile(o.valgrind, profile, logdir + "/" + mode + ".log"));
      else
        count_errors.push_back(mode + ": " + r.error);
      if (o.real_kafka) broker.done(*s);
    }
  }

  std::printf("\n%-9s %9s %9s %10s %9s %9s %9s %8s %9s\n", "mode", "events", "seconds", "events/s", "p50 ms", "p95 ms",
              "p99 ms", "cpu s", "rss MiB");
  bool ok = true;
  for (const auto& r : results) {
    if (!r.ok) {
      std::printf("%-9s FAILED: %s\n", r.mode.c_str(), r.error.c_str());
      ok = false;
      continue;
    }
    std::printf("%-9s %9zu %9s %10s %9s %9s %9s %8s %9s\n", r.mode.c_str(), r.events, fmt(r.seconds, 2).c_str(),
                fmt(static_cast<double>(r.events) / r.seconds, 0).c_str(), fmt(r.p50).c_str(), fmt(r.p95).c_str(),
                fmt(r.p99).c_str(), fmt(r.cpu, 1).c_str(), fmt(r.rss, 0).c_str());
  }
  if (ceiling)
    std::printf("%-9s %9d %9s %10s   (batched CAS + audit + processed rows on Lockstep's tables,\n"
                "%-9s %9s %9s %10s    500 per transaction, 1 connection)\n"
                "%-9s %9d %9s %10s   (the same on three minimal tables, for reference)\n",
                "ceiling", 100000, "", fmt(ceiling->rate, 0).c_str(), "", "", "", "", "ceil-min", 100000, "",
                fmt(ceiling_min->rate, 0).c_str());
  std::vector<std::pair<std::string, EventCosts>> costs;
  for (const auto& r : results)
    if (r.ok) costs.emplace_back(r.mode, r.costs);
  if (ceiling) {
    costs.emplace_back("ceiling", ceiling->costs);
    costs.emplace_back("ceil-min", ceiling_min->costs);
  }
  if (!costs.empty()) print_costs(costs);
  if (ceiling && lockstep_run && lockstep_run->ok)
    std::printf("\nlockstep / ceiling: %.0f%%, / ceil-min: %.0f%%\n",
                100.0 * static_cast<double>(lockstep_run->events) / lockstep_run->seconds / ceiling->rate,
                100.0 * static_cast<double>(lockstep_run->events) / lockstep_run->seconds / ceiling_min->rate);
  if (has_mode(o, "paced") && rate)
    std::printf("paced: produced at %.0f events/s while the worker runs (open loop), after a warm-up on the\n"
                "       first 5%% of the events (in the broker at the start; not in the latency figures)\n",
                *rate);
  if (hot_run && hot_run->ok && lockstep_run && lockstep_run->ok && lockstep_run->others_rate > 0)
    std::printf("hot key: %.2g%% of the events on m-0; the other keys' throughput %.0f events/s vs %.0f without it "
                "(%+.1f%%)\n",
                o.hot_share * 100, hot_run->others_rate, lockstep_run->others_rate,
                100.0 * (hot_run->others_rate / lockstep_run->others_rate - 1));
  if (hot_cas_run && hot_cas_run->ok && lockstep_run && lockstep_run->ok && lockstep_run->others_rate > 0)
    std::printf("hot key under a direct writer (hot-cas): the other keys' throughput %.0f events/s vs %.0f without a\n"
                "       hot key (%+.1f%%); %lld direct updates of m-0 while the worker ran (%.3f per event: each one\n"
                "       statement, transaction and heap tuple, counted in hot-cas's per-event figures)\n",
                hot_cas_run->others_rate, lockstep_run->others_rate,
                100.0 * (hot_cas_run->others_rate / lockstep_run->others_rate - 1), hot_cas_run->direct_updates,
                static_cast<double>(hot_cas_run->direct_updates) / static_cast<double>(hot_cas_run->events));
  if (results.size() >= 2 && results[0].mode == "lockstep" && results[1].mode == "naive" && results[0].ok &&
      results[1].ok)
    std::printf("lockstep / naive throughput: %.1fx\n", (static_cast<double>(results[0].events) / results[0].seconds) /
                                                        (static_cast<double>(results[1].events) / results[1].seconds));
  for (const auto& r : results) {
    if (!r.ok) continue;
    std::printf("%s outcomes:", r.mode.c_str());
    for (const auto& [k, n] : r.outcomes) std::printf(" %s=%ld", k.c_str(), n);
    std::printf("\n");
  }
  std::printf("(latency: consumed -> durable outcome, from the worker's lockstep_event_duration_seconds histogram;\n"
              " except in paced, the whole backlog is in the broker before the worker starts, so it includes\n"
              " queueing in the worker)\n");
  if (has_mode(o, "instructions")) {
    print_instructions(counted, std::min(o.instruction_events, events.size()));
    for (const auto& e : count_errors) std::printf("instructions FAILED: %s\n", e.c_str());
    ok = ok && count_errors.empty();
  }
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace lockstep::bench

int main(int argc, char** argv) {
  try {
    return lockstep::bench::main_impl(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "lockstep-bench: " << e.what() << "\n";
    return 1;
  }
}
