// PostgreSQL store (libpqxx 6.4). Batches travel as one JSON document per
// statement (jsonb_to_recordset), so a whole batch is one round trip per table
// group and every event keeps its own compare-and-set.
#include <pqxx/pqxx>

#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>

#include "codec.hpp"
#include "lockstep/store.hpp"
#include "migrations.hpp"
#include "pg_store.hpp"

namespace lockstep {
namespace {

// to_char(<col> AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), built by
// appending: replacing a placeholder in place trips GCC 12's false -Wrestrict
// at -O3 (GCC bug 105329), and the Release build runs with -Werror.
std::string ts(const std::string& col) {
  std::string out = "to_char(";
  out += col;
  out += R"( AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))";
  return out;
}

// Adds connect_timeout / application_name unless the URL sets them.
std::string with_defaults(const std::string& url) {
  std::string out = url;
  const bool is_uri = url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0;
  auto add = [&](const char* k, const char* v) {
    if (out.find(std::string(k) + "=") != std::string::npos) return;
    if (is_uri) {
      out += (out.find('?') == std::string::npos) ? "?" : "&";
      out += std::string(k) + "=" + v;
    } else {
      out += std::string(" ") + k + "=" + v;
    }
  };
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

std::optional<std::string> opt(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return f.as<std::string>();
}

// Within one batch, only the first row of an event_id can claim it (later rows
// with the same id are duplicates), and only the first claimed create of a key
// can insert it (later creates of that key are cas_lost): every write gets its
// own status and the batch never trips over its own unique constraints.
const char* kApplySql = R"SQL(
WITH input AS (
  SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(
    ord int, event_id text, aggregate_type text, aggregate_id text, transition text,
    from_state text, to_state text, read_version bigint, data jsonb, actor text,
    source text, source_topic text, source_partition int, source_offset bigint, occurred_at text)
),
firsts AS (
  SELECT DISTINCT ON (event_id) * FROM input ORDER BY event_id, ord
),
claimed AS (
  INSERT INTO processed_events (event_id, outcome, aggregate_type, aggregate_id, version, state)
  SELECT event_id, 'applied', aggregate_type, aggregate_id, read_version + 1, to_state
  FROM firsts ORDER BY aggregate_type, aggregate_id
  ON CONFLICT (event_id) DO NOTHING
  RETURNING event_id
),
cl AS (
  SELECT f.* FROM firsts f JOIN claimed c USING (event_id)
),
locked AS (
  -- Row locks in one stable order (a FOR UPDATE CTE is always materialised,
  -- and LockRows runs above the sort), so two batches touching the same keys
  -- from different workers wait for each other instead of deadlocking.
  SELECT a.aggregate_type, a.aggregate_id
    FROM aggregates a JOIN cl i USING (aggregate_type, aggregate_id)
   WHERE i.read_version > 0
   ORDER BY a.aggregate_type, a.aggregate_id
     FOR UPDATE OF a
),
upd AS (
  UPDATE aggregates a
     SET state = i.to_state, version = a.version + 1, data = i.data,
         updated_at = now(), updated_by = i.actor
    FROM cl i JOIN locked l USING (aggregate_type, aggregate_id)
   WHERE i.read_version > 0
     AND a.aggregate_type = i.aggregate_type AND a.aggregate_id = i.aggregate_id
     AND a.version = i.read_version AND a.state = i.from_state
  RETURNING i.ord
),
creates AS (
  SELECT DISTINCT ON (aggregate_type, aggregate_id) * FROM cl
   WHERE read_version = 0
   ORDER BY aggregate_type, aggregate_id, ord
),
ins AS (
  INSERT INTO aggregates (aggregate_type, aggregate_id, state, version, data, updated_by)
  SELECT aggregate_type, aggregate_id, to_state, 1, data, actor
    FROM creates
   ORDER BY aggregate_type, aggregate_id
  ON CONFLICT (aggregate_type, aggregate_id) DO NOTHING
  RETURNING aggregate_type, aggregate_id
),
done AS (
  SELECT ord FROM upd
  UNION ALL
  SELECT cr.ord FROM ins JOIN creates cr USING (aggregate_type, aggregate_id)
),
audit AS (
  INSERT INTO transition_audit (aggregate_type, aggregate_id, event_id, transition, from_state, to_state,
                                from_version, to_version, source, actor, source_topic, source_partition,
                                source_offset, occurred_at)
  SELECT i.aggregate_type, i.aggregate_id, i.event_id, i.transition, i.from_state, i.to_state,
         i.read_version, i.read_version + 1, i.source, i.actor, i.source_topic, i.source_partition,
         i.source_offset, i.occurred_at
    FROM cl i JOIN done d USING (ord)
)
SELECT i.ord, (c.ord IS NOT NULL) AS claimed, (d.ord IS NOT NULL) AS applied
  FROM input i LEFT JOIN cl c USING (ord) LEFT JOIN done d USING (ord)
)SQL";

const char* kDeadSql = R"SQL(
WITH input AS (
  SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(
    ord int, event_id text, reason text, detail text, aggregate_type text, aggregate_id text,
    event jsonb, raw text, kafka_key text, headers jsonb, conflict jsonb, source_topic text,
    source_partition int, source_offset bigint, source_timestamp bigint, consumer_group text,
    attempts int, version bigint, state text)
),
firsts AS (
  SELECT DISTINCT ON (event_id) * FROM input ORDER BY event_id, ord
),
claimed AS (
  INSERT INTO processed_events (event_id, outcome, reason, aggregate_type, aggregate_id, version, state)
  SELECT event_id, 'dead_lettered', reason, aggregate_type, aggregate_id, version, state
  FROM firsts ORDER BY event_id
  ON CONFLICT (event_id) DO NOTHING
  RETURNING event_id
),
cl AS (
  SELECT f.* FROM firsts f JOIN claimed c USING (event_id)
),
dl AS (
  INSERT INTO dead_letters (event_id, reason, detail, aggregate_type, aggregate_id, event, raw, kafka_key,
                            headers, conflict, source_topic, source_partition, source_offset,
                            source_timestamp, consumer_group, attempts)
  SELECT i.event_id, i.reason, i.detail, i.aggregate_type, i.aggregate_id, i.event,
         decode(i.raw, 'base64'), decode(i.kafka_key, 'base64'), i.headers, i.conflict, i.source_topic,
         i.source_partition, i.source_offset, i.source_timestamp, i.consumer_group, i.attempts
    FROM cl i
  ON CONFLICT (event_id) DO NOTHING
)
SELECT i.ord, (c.ord IS NOT NULL) AS claimed
  FROM input i LEFT JOIN cl c USING (ord)
)SQL";

const std::string kDeadLetterColumns =
    "SELECT id, event_id, reason, detail, aggregate_type, aggregate_id, event::text, encode(raw, 'base64'), "
    "encode(kafka_key, 'base64'), headers::text, conflict::text, source_topic, source_partition, "
    "source_offset, source_timestamp, consumer_group, attempts, status, " +
    ts("created_at") + ", " + ts("resolved_at") + ", resolved_by, note, replay_event_id FROM dead_letters";

}  // namespace

class PgStore final : public Store {
 public:
  PgStore(std::string url, const StoreOptions& options) : url_(with_defaults(url)), options_(options) { connection(); }

  void interrupt() noexcept override {
    std::lock_guard lk(conn_mu_);
    if (!conn_) return;
    const int fd = conn_->sock();
    if (fd < 0) return;
    interrupted_ = true;
    ::shutdown(fd, SHUT_RDWR);  // the blocked call sees the connection end; the server rolls back
  }

  const char* dialect() const override { return "postgresql"; }

  std::unordered_map<std::string, PriorOutcome> find_outcomes(const std::vector<std::string>& ids) override {
    std::unordered_map<std::string, PriorOutcome> out;
    if (ids.empty()) return out;
    guarded([&] {
      pqxx::nontransaction tx(data_connection());
      auto r = tx.exec_prepared("find_outcomes", Json(ids).dump());
      for (const auto& row : r) {
        PriorOutcome p;
        p.outcome = row[1].as<std::string>();
        p.reason = opt(row[2]);
        if (!row[3].is_null()) p.version = row[3].as<int64_t>();
        p.state = opt(row[4]);
        out.emplace(row[0].as<std::string>(), std::move(p));
      }
    });
    return out;
  }

  std::vector<Snapshot> read(const std::vector<AggregateRef>& refs) override {
    std::vector<Snapshot> out(refs.size());
    if (refs.empty()) return out;
    Json keys = Json::array();
    for (std::size_t i = 0; i < refs.size(); ++i)
      keys.push_back({{"ord", i}, {"t", refs[i].type}, {"i", refs[i].id}});
    guarded([&] {
      pqxx::nontransaction tx(data_connection());
      auto r = tx.exec_prepared("read_aggregates", keys.dump());
      for (const auto& row : r) {
        auto& s = out.at(row[0].as<std::size_t>());
        s.exists = true;
        s.state = row[1].as<std::string>();
        s.version = row[2].as<int64_t>();
        s.data = Json::parse(row[3].as<std::string>());
        s.updated_at = row[4].as<std::string>();
        s.updated_by = row[5].is_null() ? "" : row[5].as<std::string>();
      }
    });
    return out;
  }

  CommitResult commit(const std::vector<AppliedWrite>& applied, const std::vector<DeadLetterWrite>& dead) override {
    CommitResult res;
    res.applied.assign(applied.size(), WriteStatus::duplicate);
    res.dead.assign(dead.size(), WriteStatus::duplicate);
    if (applied.empty() && dead.empty()) return res;

    Json a = Json::array();
    for (std::size_t i = 0; i < applied.size(); ++i) {
      const auto& w = applied[i];
      a.push_back({{"ord", i},
                   {"event_id", w.event_id},
                   {"aggregate_type", w.aggregate_type},
                   {"aggregate_id", w.aggregate_id},
                   {"transition", w.transition},
                   {"from_state", w.from_state ? Json(*w.from_state) : Json(nullptr)},
                   {"to_state", w.to_state},
                   {"read_version", w.read_version},
                   {"data", w.new_data},
                   {"actor", w.actor ? Json(*w.actor) : Json(nullptr)},
                   {"source", w.src.source},
                   {"source_topic", w.src.topic},
                   {"source_partition", w.src.partition},
                   {"source_offset", w.src.offset},
                   {"occurred_at", w.occurred_at ? Json(*w.occurred_at) : Json(nullptr)}});
    }
    Json d = Json::array();
    for (std::size_t i = 0; i < dead.size(); ++i) {
      const auto& w = dead[i];
      auto o = [](const std::optional<std::string>& s) { return s ? Json(*s) : Json(nullptr); };
      d.push_back({{"ord", i},
                   {"event_id", w.event_id},
                   {"reason", to_string(w.reason)},
                   {"detail", w.detail},
                   {"aggregate_type", o(w.aggregate_type)},
                   {"aggregate_id", o(w.aggregate_id)},
                   {"event", w.event ? *w.event : Json(nullptr)},
                   {"raw", base64_encode(w.raw)},
                   {"kafka_key", w.kafka_key ? Json(base64_encode(*w.kafka_key)) : Json(nullptr)},
                   {"headers", headers_to_json(w.headers)},
                   {"conflict", w.conflict ? *w.conflict : Json(nullptr)},
                   {"source_topic", w.src.topic},
                   {"source_partition", w.src.partition},
                   {"source_offset", w.src.offset},
                   {"source_timestamp", w.src.timestamp_ms},
                   {"consumer_group", w.consumer_group},
                   {"attempts", w.attempts},
                   {"version", w.version ? Json(*w.version) : Json(nullptr)},
                   {"state", o(w.state)}});
    }
    // Replacement of invalid UTF-8 keeps the JSON document valid; the validator
    // already rejected such events, so this only guards the raw-free fields.
    const auto a_text = applied.empty() ? std::string() : a.dump(-1, ' ', false, Json::error_handler_t::replace);
    const auto d_text = dead.empty() ? std::string() : d.dump(-1, ' ', false, Json::error_handler_t::replace);

    guarded([&] {
      pqxx::work tx(data_connection());
      std::vector<std::string> lost;
      if (!applied.empty()) {
        auto r = tx.exec_prepared("apply_batch", a_text);
        for (const auto& row : r) {
          const auto i = row[0].as<std::size_t>();
          const bool claimed = row[1].as<bool>();
          const bool ok = row[2].as<bool>();
          if (ok) {
            res.applied.at(i) = WriteStatus::written;
          } else if (claimed) {
            res.applied.at(i) = WriteStatus::cas_lost;
            lost.push_back(applied[i].event_id);
          } else {
            res.applied.at(i) = WriteStatus::duplicate;
          }
        }
      }
      if (!lost.empty()) tx.exec_prepared("unclaim", Json(lost).dump());
      if (!dead.empty()) {
        auto r = tx.exec_prepared("dead_batch", d_text);
        for (const auto& row : r)
          res.dead.at(row[0].as<std::size_t>()) = row[1].as<bool>() ? WriteStatus::written : WriteStatus::duplicate;
      }
      tx.commit();
    });
    return res;
  }

  RelayResult relay_dead_letters(std::size_t limit, const PublishFn& publish) override {
    RelayResult out;
    guarded([&] {
      out = RelayResult{};
      pqxx::work tx(data_connection());
      auto r = tx.exec_prepared("relay_select", static_cast<int64_t>(limit));
      if (r.empty()) return;
      std::vector<DeadLetterRecord> recs;
      recs.reserve(r.size());
      for (const auto& row : r) recs.push_back(record_from_row(row));
      out.selected = recs.size();
      const auto results = publish(recs);
      const auto plan = plan_relay(recs, results);
      if (plan.broker_failed) {
        out.broker_failed = true;
        return;  // rolls back: the rows stay as they were
      }
      if (plan.published > 0) tx.exec_prepared("relay_mark", plan.published_ids);
      if (plan.deferred > 0) tx.exec_prepared("relay_defer", plan.deferred_rows);
      tx.commit();
      out.published = plan.published;
      out.deferred = plan.deferred;
    });
    return out;
  }

  std::vector<DeadLetterRecord> list_dead_letters(const DeadLetterFilter& f) override {
    std::vector<DeadLetterRecord> out;
    guarded([&] {
      pqxx::nontransaction tx(connection());
      Json fj = Json::object();
      if (f.status) fj["status"] = *f.status;
      if (f.reason) fj["reason"] = *f.reason;
      if (f.aggregate_type) fj["aggregate_type"] = *f.aggregate_type;
      if (f.aggregate_id) fj["aggregate_id"] = *f.aggregate_id;
      if (f.since) fj["since"] = *f.since;
      if (f.until) fj["until"] = *f.until;
      if (f.after_id) fj["after_id"] = *f.after_id;
      auto r = tx.exec_params(std::string(kDeadLetterColumns) +
                                  " WHERE ($1::jsonb->>'status' IS NULL OR status = $1::jsonb->>'status')"
                                  " AND ($1::jsonb->>'reason' IS NULL OR reason = $1::jsonb->>'reason')"
                                  " AND ($1::jsonb->>'aggregate_type' IS NULL OR aggregate_type = $1::jsonb->>'aggregate_type')"
                                  " AND ($1::jsonb->>'aggregate_id' IS NULL OR aggregate_id = $1::jsonb->>'aggregate_id')"
                                  " AND ($1::jsonb->>'since' IS NULL OR created_at >= ($1::jsonb->>'since')::timestamptz)"
                                  " AND ($1::jsonb->>'until' IS NULL OR created_at < ($1::jsonb->>'until')::timestamptz)"
                                  " AND ($1::jsonb->>'after_id' IS NULL OR id > ($1::jsonb->>'after_id')::bigint)"
                                  " ORDER BY id LIMIT $2",
                              fj.dump(), static_cast<int64_t>(f.limit));
      for (const auto& row : r) out.push_back(record_from_row(row));
    });
    return out;
  }

  bool resolve_dead_letter(int64_t id, const Resolution& res,
                           const std::function<bool(const DeadLetterRecord&)>& act) override {
    bool done = false;
    guarded([&] {
      done = false;
      pqxx::work tx(connection());
      // NOWAIT would fail a second operator outright; waiting is what they expect,
      // and the status check after the wait tells them the row is no longer open.
      auto r = tx.exec_params(std::string(kDeadLetterColumns) + " WHERE id = $1 AND status = 'open' FOR UPDATE", id);
      if (r.empty()) return;
      const auto rec = record_from_row(r[0]);
      if (!act(rec)) return;  // rolls back
      tx.exec_params(
          "UPDATE dead_letters SET status = $2, resolved_at = now(), resolved_by = $3, note = $4, "
          "replay_event_id = $5 WHERE id = $1",
          id, res.status, res.by, res.note, res.replay_event_id);
      tx.commit();
      done = true;
    });
    return done;
  }

  std::vector<WriteStatus> import_dead_letters(const std::vector<DeadLetterRecord>& recs) override {
    std::vector<WriteStatus> out(recs.size(), WriteStatus::duplicate);
    if (recs.empty()) return out;
    guarded([&] {
      std::fill(out.begin(), out.end(), WriteStatus::duplicate);
      pqxx::work tx(connection());
      for (std::size_t i = 0; i < recs.size(); ++i) {
        const auto& d = recs[i];
        const std::optional<std::string> event = d.event ? std::optional<std::string>(d.event->dump()) : std::nullopt;
        const std::optional<std::string> conflict =
            d.conflict ? std::optional<std::string>(d.conflict->dump()) : std::nullopt;
        const std::optional<std::string> key =
            d.kafka_key ? std::optional<std::string>(base64_encode(*d.kafka_key)) : std::nullopt;
        auto r = tx.exec_params(
            "INSERT INTO dead_letters (event_id, reason, aggregate_type, aggregate_id, detail, event, raw, kafka_key, "
            "headers, conflict, source_topic, source_partition, source_offset, source_timestamp, consumer_group, "
            "attempts, status, created_at, published_at) VALUES ($1, $2, $3, $4, $5, $6::jsonb, decode($7, 'base64'), "
            "decode($8, 'base64'), $9::jsonb, $10::jsonb, $11, $12, $13, $14, $15, $16, 'open', "
            "COALESCE($17::timestamptz, now()), now()) ON CONFLICT (event_id) DO NOTHING RETURNING id",
            d.event_id, d.reason, d.aggregate_type, d.aggregate_id, d.detail, event, base64_encode(d.raw), key,
            headers_to_json(d.headers).dump(), conflict, d.src.topic, d.src.partition, d.src.offset,
            d.src.timestamp_ms, d.consumer_group, d.attempts,
            d.created_at.empty() ? std::optional<std::string>() : std::optional<std::string>(d.created_at));
        if (!r.empty()) out[i] = WriteStatus::written;
      }
      tx.commit();
    });
    return out;
  }

  std::optional<DeadLetterRecord> get_dead_letter(int64_t id) override {
    std::optional<DeadLetterRecord> out;
    guarded([&] {
      pqxx::nontransaction tx(connection());
      auto r = tx.exec_params(std::string(kDeadLetterColumns) + " WHERE id = $1", id);
      if (!r.empty()) out = record_from_row(r[0]);
    });
    return out;
  }

  void ping() override {
    guarded([&] {
      pqxx::nontransaction tx(connection());
      tx.exec("SELECT 1");
    });
  }

  std::vector<MigrationStatus> migration_status() override {
    std::vector<MigrationStatus> out;
    guarded([&] {
      pqxx::work tx(connection());
      ensure_migrations_table(tx);
      out = migration_statuses(migrations(), applied_versions(tx));
      tx.commit();
    });
    return out;
  }

  std::vector<MigrationStatus> migrate_up() override {
    std::vector<MigrationStatus> done;
    guarded([&] {
      pqxx::work tx(connection());
      tx.exec("SELECT pg_advisory_xact_lock(736522001)");  // one migrator at a time
      ensure_migrations_table(tx);
      auto applied = applied_versions(tx);
      for (const auto& m : migrations()) {
        if (is_applied(applied, m.version)) continue;
        tx.exec(m.up);
        tx.exec_params("INSERT INTO lockstep_schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name);
        done.push_back({m.version, m.name, true});
      }
      tx.commit();
    });
    if (!done.empty()) reset();  // prepared statements may reference new tables
    return done;
  }

  std::vector<MigrationStatus> migrate_down(int n) override {
    std::vector<MigrationStatus> done;
    guarded([&] {
      pqxx::work tx(connection());
      tx.exec("SELECT pg_advisory_xact_lock(736522001)");
      ensure_migrations_table(tx);
      auto applied = applied_versions(tx);
      std::sort(applied.rbegin(), applied.rend());
      for (int k = 0; k < n && k < static_cast<int>(applied.size()); ++k) {
        const auto& m = known_migration(migrations(), applied[k]);
        tx.exec(m.down);
        tx.exec_params("DELETE FROM lockstep_schema_migrations WHERE version = $1", m.version);
        done.push_back({m.version, m.name, false});
      }
      tx.commit();
    });
    reset();
    return done;
  }

  int schema_version() override {
    int v = 0;
    guarded([&] {
      pqxx::nontransaction tx(connection());
      auto r = tx.exec("SELECT to_regclass('lockstep_schema_migrations') IS NOT NULL");
      if (!r[0][0].as<bool>()) return;
      auto m = tx.exec("SELECT coalesce(max(version), 0) FROM lockstep_schema_migrations");
      v = m[0][0].as<int>();
    });
    return v;
  }

 private:
  pqxx::connection& connection() {
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

  // For the prepared data statements, which exist only once the schema does:
  // before `migrate up` they fail as a transient fault instead of letting a
  // pqxx::argument_error ("Unknown prepared statement") escape the interface.
  pqxx::connection& data_connection() {
    auto& c = connection();
    if (!prepared_) throw TransientStoreError("database schema is not migrated (run `lockstep migrate up`)");
    return c;
  }

  bool schema_ready() {
    pqxx::nontransaction tx(*conn_);
    auto r = tx.exec("SELECT to_regclass('dead_letters') IS NOT NULL AND to_regclass('processed_events') IS NOT NULL");
    return r[0][0].as<bool>();
  }

  void prepare() {
    auto& c = *conn_;
    // Plan every execution for the tables as they are now. A generic plan
    // cached while the tables were still small keeps its sequential scans
    // (hash joins over processed_events/aggregates) as they grow to millions
    // of rows; planning the batch statements costs far less than one such scan.
    pqxx::nontransaction(c).exec("SET plan_cache_mode = force_custom_plan");
    c.prepare("find_outcomes",
              "SELECT event_id, outcome, reason, version, state FROM processed_events "
              "WHERE event_id IN (SELECT jsonb_array_elements_text($1::jsonb))");
    c.prepare("read_aggregates",
              "SELECT k.ord, a.state, a.version, a.data::text, " + ts("a.updated_at") +
                  ", a.updated_by FROM jsonb_to_recordset($1::jsonb) AS k(ord int, t text, i text) "
                  "JOIN aggregates a ON a.aggregate_type = k.t AND a.aggregate_id = k.i");
    c.prepare("apply_batch", kApplySql);
    c.prepare("unclaim", "DELETE FROM processed_events WHERE event_id IN (SELECT jsonb_array_elements_text($1::jsonb))");
    c.prepare("dead_batch", kDeadSql);
    c.prepare("relay_select", std::string(kDeadLetterColumns) +
                                  " WHERE published_at IS NULL AND (relay_until IS NULL OR relay_until <= now())"
                                  " ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED");
    // A deferred row is due again after 2^attempts seconds, at most 5 minutes.
    c.prepare("relay_defer",
              "UPDATE dead_letters d SET publish_attempts = d.publish_attempts + 1, publish_error = x.error, "
              "relay_until = now() + least(power(2, least(d.publish_attempts + 1, 12)), 300) * interval '1 second' "
              "FROM jsonb_to_recordset($1::jsonb) AS x(id bigint, error text) WHERE d.id = x.id");
    c.prepare("relay_mark",
              "UPDATE dead_letters SET published_at = now() WHERE id IN "
              "(SELECT (jsonb_array_elements_text($1::jsonb))::bigint)");
    prepared_ = true;
  }

  static DeadLetterRecord record_from_row(const pqxx::row& row) {
    DeadLetterRecord d;
    d.id = row[0].as<int64_t>();
    d.event_id = row[1].as<std::string>();
    d.reason = row[2].as<std::string>();
    d.detail = row[3].as<std::string>();
    d.aggregate_type = opt(row[4]);
    d.aggregate_id = opt(row[5]);
    if (!row[6].is_null()) d.event = Json::parse(row[6].as<std::string>(), nullptr, false);
    d.raw = base64_decode(strip_newlines(row[7].as<std::string>())).value_or("");
    if (!row[8].is_null()) d.kafka_key = base64_decode(strip_newlines(row[8].as<std::string>()));
    d.headers = headers_from_json(row[9].as<std::string>());
    if (!row[10].is_null()) d.conflict = Json::parse(row[10].as<std::string>(), nullptr, false);
    d.src.topic = row[11].is_null() ? "" : row[11].as<std::string>();
    d.src.partition = row[12].is_null() ? 0 : row[12].as<int32_t>();
    d.src.offset = row[13].is_null() ? 0 : row[13].as<int64_t>();
    d.src.timestamp_ms = row[14].is_null() ? -1 : row[14].as<int64_t>();
    d.consumer_group = row[15].is_null() ? "" : row[15].as<std::string>();
    d.attempts = row[16].as<int>();
    d.status = row[17].as<std::string>();
    d.created_at = row[18].as<std::string>();
    d.resolved_at = opt(row[19]);
    d.resolved_by = opt(row[20]);
    d.note = opt(row[21]);
    d.replay_event_id = opt(row[22]);
    return d;
  }

  static std::string strip_newlines(std::string s) {
    s.erase(std::remove_if(s.begin(), s.end(), [](char c) { return c == '\n' || c == '\r'; }), s.end());
    return s;
  }

  static void ensure_migrations_table(pqxx::work& tx) {
    tx.exec(
        "CREATE TABLE IF NOT EXISTS lockstep_schema_migrations (version integer PRIMARY KEY, name text NOT NULL, "
        "applied_at timestamptz NOT NULL DEFAULT now())");
  }

  static std::vector<int> applied_versions(pqxx::work& tx) {
    std::vector<int> v;
    for (const auto& row : tx.exec("SELECT version FROM lockstep_schema_migrations ORDER BY version"))
      v.push_back(row[0].as<int>());
    return v;
  }

  void reset() {
    std::lock_guard lk(conn_mu_);
    conn_.reset();
    prepared_ = false;
  }

  template <class F>
  void guarded(F&& f) {
    try {
      f();
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

  std::string url_;
  StoreOptions options_;
  std::mutex conn_mu_;  // conn_ itself (interrupt() reads it from another thread)
  std::atomic<bool> interrupted_{false};
  std::unique_ptr<pqxx::connection> conn_;
  bool prepared_ = false;
};

std::unique_ptr<Store> make_pg_store(const std::string& url, const StoreOptions& options) {
  return std::make_unique<PgStore>(url, options);
}

}  // namespace lockstep
