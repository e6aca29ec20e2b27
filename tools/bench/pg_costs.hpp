// What a benchmark run costs PostgreSQL and the worker per event: WAL bytes,
// heap tuples and index entries written, the share of HOT updates, statements
// and transactions, and the CPU time of the worker, of the PostgreSQL server and
// of the benchmark process (docs/benchmark.md, "Per-event costs").
#pragma once

#include <cmath>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace lockstep::bench {

// Cumulative counters of one database, and the cluster's WAL position, at one
// moment when no client is connected to that database.
struct PgCounters {
  double wal_bytes = 0;  // pg_current_wal_lsn() - '0/0' (cluster-wide)
  struct Table {
    long long ins = 0, upd = 0, hot = 0, del = 0;  // n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del
    int indexes = 0;
    bool operator==(const Table&) const = default;
  };
  std::map<std::string, Table> tables;  // pg_stat_user_tables, by schema.name
  long long xacts = 0;                  // xact_commit + xact_rollback, without the probe's own
  std::optional<long long> statements;  // pg_stat_statements calls; nullopt without the extension
  // CPU time of every process of the cluster: the postmaster and its live
  // children, and the children it has reaped. nullopt when the server is
  // not a process of this machine.
  std::optional<double> server_cpu_s;
};

// CPU time the processes spent during a run, in seconds; nullopt where not measured.
struct CpuSeconds {
  std::optional<double> worker;  // the worker process (user + system, from wait4)
  std::optional<double> bench;   // this process: the development broker, producers, scrapes, a ceiling's client
};

// Per event of a run: the difference of two PgCounters divided by `events`.
// NAN where there is nothing to say (no updates for the HOT share, no
// pg_stat_statements, a CPU time not measured).
struct EventCosts {
  double wal_bytes = NAN, heap_tuples = NAN, index_entries = NAN;
  double hot_share = NAN;  // of the updates, 0..1
  double statements = NAN, xacts = NAN;
  double cpu_us = NAN, db_cpu_us = NAN, bench_cpu_us = NAN;  // worker, PostgreSQL server, this process
};
EventCosts per_event(const PgCounters& before, const PgCounters& after, std::size_t events, CpuSeconds cpu);

// Reads PgCounters. Keeps a database of its own on the cluster of
// `admin_url`, lockstep_bench_stats, with the pg_stat_statements extension
// (whose figures are there only when the server preloads the library), from
// which it reads the cluster-wide views; the per-table statistics need a
// connection to the measured database itself. None of its own statements is
// counted by pg_stat_statements, and its own transactions are subtracted.
class CostProbe {
 public:
  explicit CostProbe(const std::string& admin_url);
  bool has_statements() const { return statements_; }
  // The counters of database `db`, once no client is connected to it and its
  // statistics have stopped changing (backends send theirs lazily, at the
  // latest when they exit). Throws when that takes longer than 30 s.
  PgCounters read(const std::string& db);

 private:
  std::string admin_url_;
  std::string stats_url_;
  bool statements_ = false;
  std::map<std::string, long long> own_xacts_;  // transactions this probe ran in each database
};

// The "per event" table, one row a mode.
void print_costs(const std::vector<std::pair<std::string, EventCosts>>& rows);

}  // namespace lockstep::bench
