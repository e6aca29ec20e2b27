#include "pg_costs.hpp"

#include <chrono>
#include <cstdio>
#include <pqxx/pqxx>
#include <stdexcept>
#include <thread>

#include "lockstep/kit/pg.hpp"
#include "lockstep/kit/poll.hpp"
#include "proc_cpu.hpp"

namespace lockstep::bench {

namespace {

using namespace std::chrono_literals;

constexpr const char* kStatsDatabase = "lockstep_bench_stats";

// `url` with a startup option that keeps the session's statements out of
// pg_stat_statements (a superuser setting; only used when the extension is there).
std::string untracked(const std::string& url) {
  auto u = kit::parse_pg_url(url);
  u.query += u.query.empty() ? "?" : "&";
  u.query += "options=-c%20pg_stat_statements.track%3Dnone";
  return u.str();
}

std::map<std::string, PgCounters::Table> table_stats(pqxx::read_transaction& tx) {
  std::map<std::string, PgCounters::Table> tables;
  tx.exec("SELECT pg_stat_clear_snapshot()");
  for (const auto& row : tx.exec(
           "SELECT s.schemaname || '.' || s.relname, s.n_tup_ins, s.n_tup_upd, s.n_tup_hot_upd, s.n_tup_del, "
           "(SELECT count(*) FROM pg_index i WHERE i.indrelid = s.relid) "
           "FROM pg_stat_user_tables s")) {
    auto& t = tables[row[0].as<std::string>()];
    t.ins = row[1].as<long long>();
    t.upd = row[2].as<long long>();
    t.hot = row[3].as<long long>();
    t.del = row[4].as<long long>();
    t.indexes = row[5].as<int>();
  }
  return tables;
}

}  // namespace

CostProbe::CostProbe(const std::string& admin_url) : admin_url_(admin_url) {
  kit::recreate_database(admin_url, kStatsDatabase);
  stats_url_ = kit::with_database(admin_url, kStatsDatabase);
  try {
    pqxx::connection c(stats_url_);
    pqxx::nontransaction tx(c);
    tx.exec("CREATE EXTENSION pg_stat_statements");
    // Fails unless the server preloads the library (shared_preload_libraries).
    tx.exec("SELECT count(*) FROM pg_stat_statements(false)");
    statements_ = true;
  } catch (const std::exception&) {
    statements_ = false;
  }
  if (statements_) stats_url_ = untracked(stats_url_);
}

PgCounters CostProbe::read(const std::string& db) {
  pqxx::connection stats(stats_url_);
  // No client of `db` left: every backend that worked there has exited, and
  // a backend sends its remaining statistics as it exits.
  const auto quiet = [&] {
    return kit::poll_until(
        30s,
        [&] {
          pqxx::nontransaction tx(stats);
          return tx.exec_params1("SELECT count(*) FROM pg_stat_activity WHERE datname = $1 "
                                 "AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
                                 db)[0]
                     .as<long>() == 0;
        },
        20ms);
  };
  const std::string db_url = statements_ ? untracked(kit::with_database(admin_url_, db))
                                         : kit::with_database(admin_url_, db);
  PgCounters c;
  // The per-table figures, from a connection to `db` (one read-only
  // transaction each time, counted in own_xacts_), until two reads agree.
  bool stable = false;
  for (int i = 0; i < 100 && !stable; ++i) {
    if (!quiet()) throw std::runtime_error("statistics of " + db + ": clients still connected after 30 s");
    std::map<std::string, PgCounters::Table> tables;
    {
      pqxx::connection conn(db_url);
      pqxx::read_transaction tx(conn);
      tables = table_stats(tx);
      tx.commit();
      ++own_xacts_[db];
    }
    stable = i > 0 && tables == c.tables;
    c.tables = std::move(tables);
    if (!stable) std::this_thread::sleep_for(100ms);  // pacing the reads, not synchronisation
  }
  if (!stable) throw std::runtime_error("statistics of " + db + " still changing after 100 reads");
  if (!quiet()) throw std::runtime_error("statistics of " + db + ": clients still connected after 30 s");
  // The database-wide counters, from the probe's own database, again until two reads agree.
  std::optional<std::pair<long long, std::optional<long long>>> last;
  for (int i = 0; i < 100; ++i) {
    pqxx::nontransaction tx(stats);
    tx.exec("SELECT pg_stat_clear_snapshot()");
    const auto x = tx.exec_params1(
        "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = $1", db)[0];
    std::optional<long long> calls;
    if (statements_)
      calls = tx.exec_params1("SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements(false) "
                              "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = $1)",
                              db)[0]
                  .as<long long>();
    const std::pair<long long, std::optional<long long>> now{x.as<long long>(), calls};
    if (last && *last == now) break;
    last = now;
    std::this_thread::sleep_for(100ms);  // pacing
  }
  c.xacts = last->first - own_xacts_[db];
  c.statements = last->second;
  pqxx::nontransaction tx(stats);
  c.wal_bytes = tx.exec1("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::float8")[0].as<double>();
  c.server_cpu_s = cluster_cpu_seconds(tx.exec1("SELECT pg_backend_pid()")[0].as<long long>());
  return c;
}

EventCosts per_event(const PgCounters& before, const PgCounters& after, std::size_t events, CpuSeconds cpu) {
  EventCosts e;
  if (events == 0) return e;
  const auto n = static_cast<double>(events);
  long long heap = 0, index = 0, upd = 0, hot = 0;
  for (const auto& [name, a] : after.tables) {
    const auto it = before.tables.find(name);
    const PgCounters::Table b = it == before.tables.end() ? PgCounters::Table{} : it->second;
    const long long ins = a.ins - b.ins, u = a.upd - b.upd, h = a.hot - b.hot, del = a.del - b.del;
    heap += ins + u + del;
    // Every insert and every update that is not HOT adds an entry to each
    // index of the table (partial indexes counted as if they were full).
    index += (ins + u - h) * a.indexes;
    upd += u;
    hot += h;
  }
  e.wal_bytes = (after.wal_bytes - before.wal_bytes) / n;
  e.heap_tuples = static_cast<double>(heap) / n;
  e.index_entries = static_cast<double>(index) / n;
  if (upd > 0) e.hot_share = static_cast<double>(hot) / static_cast<double>(upd);
  if (before.statements && after.statements) e.statements = static_cast<double>(*after.statements - *before.statements) / n;
  e.xacts = static_cast<double>(after.xacts - before.xacts) / n;
  if (cpu.worker) e.cpu_us = *cpu.worker * 1e6 / n;
  if (before.server_cpu_s && after.server_cpu_s) e.db_cpu_us = (*after.server_cpu_s - *before.server_cpu_s) * 1e6 / n;
  if (cpu.bench) e.bench_cpu_us = *cpu.bench * 1e6 / n;
  return e;
}

void print_costs(const std::vector<std::pair<std::string, EventCosts>>& rows) {
  const auto cell = [](double v, int prec) {
    if (std::isnan(v)) return std::string("-");
    char b[32];
    std::snprintf(b, sizeof b, "%.*f", prec, v);
    return std::string(b);
  };
  // "µs" is 3 bytes for 2 columns: one more in each CPU column's width.
  std::printf("\nper event %7s %9s %8s %6s %7s %7s %8s %8s %10s\n", "WAL B", "heap tup", "idx tup", "HOT %", "stmts",
              "xacts", "cpu µs", "db µs", "bench µs");
  for (const auto& [mode, e] : rows)
    std::printf("%-9s %7s %9s %8s %6s %7s %7s %7s %7s %9s\n", mode.c_str(), cell(e.wal_bytes, 0).c_str(),
                cell(e.heap_tuples, 2).c_str(), cell(e.index_entries, 2).c_str(), cell(e.hot_share * 100, 0).c_str(),
                cell(e.statements, 3).c_str(), cell(e.xacts, 3).c_str(), cell(e.cpu_us, 1).c_str(),
                cell(e.db_cpu_us, 1).c_str(), cell(e.bench_cpu_us, 1).c_str());
}

}  // namespace lockstep::bench
