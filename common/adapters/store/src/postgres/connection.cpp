// PostgreSQL store: the connection (options, reconnecting, the watchdog's cut),
// the prepared statements of every role, and how libpqxx errors map to the
// store's two errors.
#include <sys/socket.h>

#include <algorithm>

#include "backends.hpp"
#include "codec.hpp"
#include "lockstep/store/url.hpp"
#include "pg_store.hpp"

namespace lockstep {

std::string with_url_option(const std::string& url, const std::string& key, const std::string& value) {
  if (url.rfind("sqlite:", 0) == 0 || url.find(key + "=") != std::string::npos) return url;
  const bool is_uri = url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0;
  if (is_uri) return url + (url.find('?') == std::string::npos ? "?" : "&") + key + "=" + value;
  return url + " " + key + "=" + value;
}

namespace postgres {
namespace {

// Adds connect_timeout / application_name unless the URL sets them.
std::string with_defaults(const std::string& url) {
  std::string out = url;
  auto add = [&](const char* k, const char* v) { out = with_url_option(out, k, v); };
  add("connect_timeout", "5");
  add("application_name", "lockstep");
  // A path that silently drops packets is noticed in seconds, not after the
  // ~15 minutes of TCP retransmission: keepalive probes while waiting for an
  // answer, and a bound on unacknowledged data (tcp_user_timeout, ms).
  add("keepalives", "1");
  add("keepalives_idle", "5");
  add("keepalives_interval", "2");
  add("keepalives_count", "3");
  add("tcp_user_timeout", "10000");
  return out;
}

bool transient_state(const std::string& s) {
  if (s.size() < 2) return true;
  const std::string cls = s.substr(0, 2);
  // 08 connection, 40 rollback (serialization/deadlock), 53 resources, 57 operator
  // intervention (shutdown), 58 system error, 55 lock not available, XX internal.
  return cls == "08" || cls == "40" || cls == "53" || cls == "57" || cls == "58" || cls == "55" ||
         cls == "XX" || cls == "25";
}

}  // namespace

// Built by appending: replacing a placeholder in place trips GCC 12's false
// -Wrestrict at -O3 (GCC bug 105329), and the Release build runs with -Werror.
std::string ts(const std::string& col) {
  std::string out = "to_char(";
  out += col;
  out += R"( AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))";
  return out;
}

std::optional<std::string> opt(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return f.as<std::string>();
}

PgStore::PgStore(std::string url, const StoreOptions& options) : url_(with_defaults(url)), options_(options) {
  connection();
}

void PgStore::interrupt() noexcept {
  std::lock_guard lk(conn_mu_);
  if (!conn_) return;
  const int fd = conn_->sock();
  if (fd < 0) return;
  interrupted_ = true;
  ::shutdown(fd, SHUT_RDWR);  // the blocked call sees the connection end; the server rolls back
}

void PgStore::ping() {
  guarded([&] {
    pqxx::nontransaction tx(connection());
    tx.exec("SELECT 1");
  });
}

pqxx::connection& PgStore::connection() {
  if (!conn_) {
    std::unique_ptr<pqxx::connection> c;
    try {
      c = std::make_unique<pqxx::connection>(url_);
    } catch (const pqxx::broken_connection& e) {
      throw TransientStoreError(std::string("database unreachable: ") + first_line(e.what()));
    }
    if (options_.statement_timeout.count() > 0) {
      const auto ms = std::to_string(options_.statement_timeout.count());
      pqxx::nontransaction(*c).exec("SET statement_timeout = " + ms + "; SET lock_timeout = " + ms);
    }
    std::lock_guard lk(conn_mu_);
    conn_ = std::move(c);
    interrupted_ = false;
    prepared_ = false;
  }
  if (!prepared_ && schema_ready()) prepare();
  return *conn_;
}

pqxx::connection& PgStore::data_connection() {
  auto& c = connection();
  if (!prepared_) throw TransientStoreError("database schema is not migrated (run `lockstep migrate up`)");
  // Called before the caller opens its transaction: DISCARD PLANS runs on its own.
  if (++plan_uses_ > std::max(options_.plan_refresh_every, 1)) {
    pqxx::nontransaction(c).exec("DISCARD PLANS");
    plan_uses_ = 1;
  }
  return c;
}

bool PgStore::schema_ready() {
  pqxx::nontransaction tx(*conn_);
  auto r = tx.exec("SELECT to_regclass('dead_letters') IS NOT NULL AND to_regclass('processed_events') IS NOT NULL");
  return r[0][0].as<bool>();
}

void PgStore::prepare() {
  auto& c = *conn_;
  // One plan per statement, kept for plan_refresh_every uses of the
  // connection and then discarded (data_connection), so that the next use
  // plans for the tables as they are now. A plan is never kept for good: one
  // made while the tables were still small keeps its sequential scans (hash
  // joins over processed_events/aggregates) as they grow to millions of rows,
  // and growth alone does not invalidate it. Generic plans lose nothing
  // here: the batch is one JSON parameter, whose value the planner cannot
  // use (jsonb_to_recordset is estimated at 100 rows whatever it holds).
  pqxx::nontransaction(c).exec("SET plan_cache_mode = force_generic_plan");
  plan_uses_ = 0;
  prepare_outcome_statements(c);
  prepare_outbox_statements(c);
  prepared_ = true;
}

void PgStore::reset() {
  std::lock_guard lk(conn_mu_);
  conn_.reset();
  prepared_ = false;
}

void PgStore::rethrow_as_store_error() {
  try {
    throw;
  } catch (const pqxx::broken_connection& e) {
    const bool cut = interrupted_.exchange(false);
    reset();
    if (cut) throw TransientStoreError("database did not answer in time: connection cut");
    throw TransientStoreError(std::string("database connection lost: ") + first_line(e.what()));
  } catch (const pqxx::in_doubt_error& e) {
    reset();
    throw TransientStoreError(std::string("commit outcome unknown: ") + first_line(e.what()));
  } catch (const pqxx::sql_error& e) {
    const auto& st = e.sqlstate();
    if (transient_state(st)) {
      if (st.rfind("08", 0) == 0 || st.rfind("57", 0) == 0) reset();
      throw TransientStoreError("database error " + st + ": " + first_line(e.what()));
    }
    if (st.rfind("22", 0) == 0 || st.rfind("23", 0) == 0)
      throw DataStoreError("database rejected the data (" + st + "): " + first_line(e.what()));
    // Anything else (e.g. a missing table) is a fault of the deployment, not of
    // the event: keep the event and report it.
    throw TransientStoreError("database error " + st + ": " + first_line(e.what()));
  } catch (const pqxx::usage_error& e) {
    reset();
    throw TransientStoreError(std::string("database usage error: ") + first_line(e.what()));
  } catch (const pqxx::failure& e) {
    reset();
    throw TransientStoreError(std::string("database failure: ") + first_line(e.what()));
  }
}

}  // namespace postgres

std::unique_ptr<Store> make_pg_store(const std::string& url, const StoreOptions& options) {
  return std::make_unique<postgres::PgStore>(url, options);
}

}  // namespace lockstep
