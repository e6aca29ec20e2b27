// Embedded store: SQLite (C API) with the PostgreSQL store's semantics over one
// database file. WAL journal (readers never block the writer), synchronous=FULL
// (a committed outcome is on disk before commit() returns, hence before its
// offset is committed), and every write transaction is BEGIN IMMEDIATE: it takes
// the database's single write lock up front, waiting up to the busy timeout, so
// two connections never deadlock upgrading a read to a write. Within that
// transaction each applied write is still a true compare-and-set
// (UPDATE ... WHERE version = ? AND state = ?), so the result does not depend on
// the lock: a write whose read is stale loses, exactly as on PostgreSQL.
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "codec.hpp"
#include "lockstep/sqlite_handle.hpp"
#include "lockstep/store.hpp"
#include "migrations.hpp"
#include "sqlite_store.hpp"

namespace lockstep {
namespace {

constexpr int kBusyTimeoutMs = 5000;
// How long the outbox relay holds unpublished dead letters while it publishes
// them (DeadLetterRelay gives a publish 15 s). Another relay takes rows over
// only after that, e.g. when the holder died mid-publish.
constexpr int kRelayLeaseSeconds = 60;
constexpr const char* kNow = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

// An SQLite failure with its extended result code; mapped to the Store's
// exceptions by SqliteStore::guarded().
class SqliteError : public std::runtime_error {
 public:
  SqliteError(int code, const std::string& what) : std::runtime_error(what), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

[[noreturn]] void fail(sqlite3* db, int rc, const std::string& what) {
  const int code = db ? sqlite3_extended_errcode(db) : rc;
  const char* msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  throw SqliteError(code ? code : rc, what + ": " + (msg ? msg : sqlite3_errstr(rc)));
}

// One use of a cached prepared statement: bind, step, read columns; reset (and
// bindings cleared) when it goes out of scope, so no statement stays active.
class Stmt {
 public:
  Stmt(sqlite3* db, sqlite3_stmt* s) : db_(db), s_(s) {}
  ~Stmt() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& null(int i) { return check(sqlite3_bind_null(s_, i)); }
  Stmt& bind(int i, int64_t v) { return check(sqlite3_bind_int64(s_, i, v)); }
  Stmt& bind(int i, int v) { return check(sqlite3_bind_int64(s_, i, v)); }
  Stmt& bind(int i, const std::string& v) {
    return check(sqlite3_bind_text64(s_, i, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
  }
  Stmt& bind(int i, const char* v) { return bind(i, std::string(v)); }
  Stmt& bind(int i, const std::optional<std::string>& v) { return v ? bind(i, *v) : null(i); }
  Stmt& bind(int i, const std::optional<int64_t>& v) { return v ? bind(i, *v) : null(i); }
  // Bytes as a BLOB; an empty string is a zero-length BLOB, not NULL.
  Stmt& blob(int i, const std::string& v) {
    return check(sqlite3_bind_blob64(s_, i, v.data(), v.size(), SQLITE_TRANSIENT));
  }
  Stmt& blob(int i, const std::optional<std::string>& v) { return v ? blob(i, *v) : null(i); }

  // true: a row is ready; false: done.
  bool step() {
    const int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail(db_, rc, "statement failed");
  }
  // Runs to completion; returns the number of rows it changed.
  int run() {
    while (step()) {
    }
    return sqlite3_changes(db_);
  }

  bool is_null(int c) const { return sqlite3_column_type(s_, c) == SQLITE_NULL; }
  int64_t i64(int c) const { return sqlite3_column_int64(s_, c); }
  std::string text(int c) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, c));
    return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s_, c))) : std::string();
  }
  std::optional<std::string> opt_text(int c) const {
    if (is_null(c)) return std::nullopt;
    return text(c);
  }
  std::string bytes(int c) const {
    const void* p = sqlite3_column_blob(s_, c);
    return p ? std::string(static_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(s_, c)))
             : std::string();
  }

 private:
  Stmt& check(int rc) {
    if (rc != SQLITE_OK) fail(db_, rc, "bind failed");
    return *this;
  }
  sqlite3* db_;
  sqlite3_stmt* s_;
};

// JSON text as stored: invalid UTF-8 replaced (as the PostgreSQL store's batch
// document does), so the column always holds valid JSON.
std::string json_text(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }
std::optional<std::string> opt_json_text(const std::optional<Json>& j) {
  if (!j) return std::nullopt;
  return json_text(*j);
}

// A text value as stored: invalid UTF-8 replaced by U+FFFD, like on PostgreSQL,
// where every text travels inside the batch's JSON document.
std::string clean(const std::string& s) {
  try {
    (void)Json(s).dump();
    return s;
  } catch (const Json::type_error&) {
    return Json::parse(Json(s).dump(-1, ' ', false, Json::error_handler_t::replace)).get<std::string>();
  }
}
std::optional<std::string> clean(const std::optional<std::string>& s) {
  if (!s) return s;
  return clean(*s);
}

bool has_nul(const std::string& s) { return s.find('\0') != std::string::npos; }
bool has_nul(const std::optional<std::string>& s) { return s && has_nul(*s); }
bool has_nul(const Json& j) {
  if (j.is_string()) return has_nul(j.get_ref<const std::string&>());
  if (j.is_array()) return std::any_of(j.begin(), j.end(), [](const Json& e) { return has_nul(e); });
  if (j.is_object())
    for (auto it = j.begin(); it != j.end(); ++it)
      if (has_nul(it.key()) || has_nul(it.value())) return true;
  return false;
}

// PostgreSQL cannot store NUL characters in text or jsonb, and rejects the whole
// batch (DataStoreError). The embedded store refuses the same values, so an
// event gets the same outcome on either database. (Raw bytes, keys and header
// values are binary on both and may hold anything.)
void check_storable(const std::vector<AppliedWrite>& applied, const std::vector<DeadLetterWrite>& dead) {
  auto reject = [](const std::string& event_id, const char* field) {
    throw DataStoreError(std::string("database rejected the data: ") + field + " of event " + clean(event_id) +
                         " contains a NUL character");
  };
  for (const auto& w : applied) {
    if (has_nul(w.event_id)) reject("", "event_id");
    if (has_nul(w.aggregate_type) || has_nul(w.aggregate_id)) reject(w.event_id, "the aggregate key");
    if (has_nul(w.transition) || has_nul(w.from_state) || has_nul(w.to_state)) reject(w.event_id, "a state name");
    if (has_nul(w.new_data)) reject(w.event_id, "data");
    if (has_nul(w.actor) || has_nul(w.occurred_at)) reject(w.event_id, "actor/occurred_at");
    if (has_nul(w.src.topic) || has_nul(w.src.source)) reject(w.event_id, "the source");
  }
  for (const auto& d : dead) {
    if (has_nul(d.event_id)) reject("", "event_id");
    if (has_nul(d.detail) || has_nul(d.aggregate_type) || has_nul(d.aggregate_id) || has_nul(d.state))
      reject(d.event_id, "a text field");
    if ((d.event && has_nul(*d.event)) || (d.conflict && has_nul(*d.conflict))) reject(d.event_id, "event/conflict");
    for (const auto& h : d.headers)
      if (has_nul(h.name)) reject(d.event_id, "a header name");
    if (has_nul(d.src.topic) || has_nul(d.consumer_group)) reject(d.event_id, "the source");
  }
}

const char* kDeadLetterColumns =
    "SELECT id, event_id, reason, detail, aggregate_type, aggregate_id, event, raw, kafka_key, headers, conflict, "
    "source_topic, source_partition, source_offset, source_timestamp, consumer_group, attempts, status, created_at, "
    "resolved_at, resolved_by, note, replay_event_id FROM dead_letters";

DeadLetterRecord record_from_row(const Stmt& s) {
  DeadLetterRecord d;
  d.id = s.i64(0);
  d.event_id = s.text(1);
  d.reason = s.text(2);
  d.detail = s.text(3);
  d.aggregate_type = s.opt_text(4);
  d.aggregate_id = s.opt_text(5);
  if (!s.is_null(6)) d.event = Json::parse(s.text(6), nullptr, false);
  d.raw = s.bytes(7);
  if (!s.is_null(8)) d.kafka_key = s.bytes(8);
  d.headers = headers_from_json(s.text(9));
  if (!s.is_null(10)) d.conflict = Json::parse(s.text(10), nullptr, false);
  d.src.topic = s.text(11);
  d.src.partition = s.is_null(12) ? 0 : static_cast<int32_t>(s.i64(12));
  d.src.offset = s.is_null(13) ? 0 : s.i64(13);
  d.src.timestamp_ms = s.is_null(14) ? -1 : s.i64(14);
  d.consumer_group = s.text(15);
  d.attempts = static_cast<int>(s.i64(16));
  d.status = s.text(17);
  d.created_at = s.text(18);
  d.resolved_at = s.opt_text(19);
  d.resolved_by = s.opt_text(20);
  d.note = s.opt_text(21);
  d.replay_event_id = s.opt_text(22);
  return d;
}

// The dead_letters columns that commit() and import_dead_letters() both fill,
// ?1..?16 in this order (bind_dead_letter); created_at is ?17.
const std::string kDeadLetterInsert =
    "INSERT INTO dead_letters (event_id, reason, detail, aggregate_type, aggregate_id, event, raw, kafka_key, headers, "
    "conflict, source_topic, source_partition, source_offset, source_timestamp, consumer_group, attempts, created_at";

// Binds ?1..?16 of kDeadLetterInsert from a DeadLetterWrite or a
// DeadLetterRecord (fields of the same names); `reason` as it is stored.
template <class Dead>
void bind_dead_letter(Stmt& s, const Dead& d, const std::string& reason) {
  s.bind(1, clean(d.event_id)).bind(2, reason).bind(3, clean(d.detail)).bind(4, clean(d.aggregate_type));
  s.bind(5, clean(d.aggregate_id)).bind(6, opt_json_text(d.event)).blob(7, d.raw).blob(8, d.kafka_key);
  s.bind(9, json_text(headers_to_json(d.headers))).bind(10, opt_json_text(d.conflict));
  s.bind(11, clean(d.src.topic)).bind(12, d.src.partition).bind(13, d.src.offset).bind(14, d.src.timestamp_ms);
  s.bind(15, clean(d.consumer_group)).bind(16, d.attempts);
}

std::string random_token() {
  std::random_device rd;
  std::mt19937_64 rng((static_cast<uint64_t>(rd()) << 32) ^ rd() ^
                      static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
  static std::atomic<uint64_t> counter{0};
  return std::to_string(rng()) + "-" + std::to_string(++counter);
}

}  // namespace

std::string sqlite_path(const std::string& url) {
  if (url.rfind("sqlite:", 0) != 0) throw std::invalid_argument("database.url: not a sqlite: URL");
  std::string rest = url.substr(7);
  // sqlite:///abs/path -> /abs/path; sqlite://rel/path -> rel/path; sqlite:rel/path -> rel/path.
  if (rest.rfind("//", 0) == 0) rest = rest.substr(2);
  if (rest.empty()) throw std::invalid_argument("database.url: a sqlite: URL needs a file path, e.g. sqlite:///var/lib/lockstep.db");
  if (rest == ":memory:" || rest.rfind("file:", 0) == 0)
    throw std::invalid_argument(
        "database.url: the embedded store needs a database file (sqlite:///path or sqlite:relative/path): every "
        "connection of the worker must see the same database");
  return rest;
}

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(const std::string& url) : path_(sqlite_path(url)), owner_(random_token()) {
    guarded([&] { db(); });
  }

  const char* dialect() const override { return "sqlite"; }

  std::unordered_map<std::string, PriorOutcome> find_outcomes(const std::vector<std::string>& ids) override {
    std::unordered_map<std::string, PriorOutcome> out;
    if (ids.empty()) return out;
    const auto arr = json_text(Json(ids));
    guarded([&] {
      out.clear();
      auto s = stmt(
          "SELECT event_id, outcome, reason, version, state FROM processed_events "
          "WHERE event_id IN (SELECT value FROM json_each(?1))");
      s.bind(1, arr);
      while (s.step()) {
        PriorOutcome p;
        p.outcome = s.text(1);
        p.reason = s.opt_text(2);
        if (!s.is_null(3)) p.version = s.i64(3);
        p.state = s.opt_text(4);
        out.emplace(s.text(0), std::move(p));
      }
    });
    return out;
  }

  std::vector<Snapshot> read(const std::vector<AggregateRef>& refs) override {
    std::vector<Snapshot> out(refs.size());
    if (refs.empty()) return out;
    Json keys = Json::array();
    for (const auto& r : refs) keys.push_back(Json::array({r.type, r.id}));
    const auto text = json_text(keys);
    guarded([&] {
      std::fill(out.begin(), out.end(), Snapshot{});
      // One statement: one consistent snapshot of all of them, no lock held.
      auto s = stmt(
          "SELECT k.key, a.state, a.version, a.data, a.updated_at, a.updated_by FROM json_each(?1) k "
          "JOIN aggregates a ON a.aggregate_type = json_extract(k.value, '$[0]') "
          "AND a.aggregate_id = json_extract(k.value, '$[1]')");
      s.bind(1, text);
      while (s.step()) {
        auto& snap = out.at(static_cast<std::size_t>(s.i64(0)));
        snap.exists = true;
        snap.state = s.text(1);
        snap.version = s.i64(2);
        snap.data = Json::parse(s.text(3));
        snap.updated_at = s.text(4);
        snap.updated_by = s.is_null(5) ? "" : s.text(5);
      }
    });
    return out;
  }

  // The PostgreSQL store's batch rules, applied row by row in one transaction:
  // only the first row of an event_id can claim it (later rows: duplicate); a
  // claimed write's compare-and-set runs against the aggregate as it was before
  // this batch (a key already written by an earlier row of the batch is
  // cas_lost, as on PostgreSQL where the whole batch is one statement); a lost
  // CAS releases its claim, so the same event can be retried or dead-lettered.
  CommitResult commit(const std::vector<AppliedWrite>& applied, const std::vector<DeadLetterWrite>& dead) override {
    CommitResult res;
    res.applied.assign(applied.size(), WriteStatus::duplicate);
    res.dead.assign(dead.size(), WriteStatus::duplicate);
    if (applied.empty() && dead.empty()) return res;
    check_storable(applied, dead);

    guarded([&] {
      std::fill(res.applied.begin(), res.applied.end(), WriteStatus::duplicate);
      std::fill(res.dead.begin(), res.dead.end(), WriteStatus::duplicate);
      Tx tx(*this);
      const auto now = now_rfc3339();
      std::unordered_set<std::string> seen;
      std::set<std::pair<std::string, std::string>> touched;
      for (std::size_t i = 0; i < applied.size(); ++i) {
        const auto& w = applied[i];
        const auto event_id = clean(w.event_id);
        if (!seen.insert(event_id).second) continue;  // duplicate within the batch
        const auto type = clean(w.aggregate_type), id = clean(w.aggregate_id);
        const auto to_state = clean(w.to_state);
        {
          auto s = stmt(
              "INSERT INTO processed_events (event_id, outcome, aggregate_type, aggregate_id, version, state, "
              "processed_at) VALUES (?1, 'applied', ?2, ?3, ?4, ?5, ?6) ON CONFLICT (event_id) DO NOTHING");
          s.bind(1, event_id).bind(2, type).bind(3, id).bind(4, w.read_version + 1).bind(5, to_state).bind(6, now);
          if (s.run() == 0) continue;  // the event already has an outcome
        }
        bool ok = false;
        const auto key = std::make_pair(type, id);
        if (!touched.count(key)) {
          if (w.read_version > 0) {
            auto s = stmt(
                "UPDATE aggregates SET state = ?1, version = version + 1, data = ?2, updated_at = ?3, "
                "updated_by = ?4 WHERE aggregate_type = ?5 AND aggregate_id = ?6 AND version = ?7 AND state = ?8");
            s.bind(1, to_state).bind(2, json_text(w.new_data)).bind(3, now).bind(4, clean(w.actor));
            s.bind(5, type).bind(6, id).bind(7, w.read_version).bind(8, clean(w.from_state));
            ok = s.run() == 1;
          } else {
            auto s = stmt(
                "INSERT INTO aggregates (aggregate_type, aggregate_id, state, version, data, created_at, updated_at, "
                "updated_by) VALUES (?1, ?2, ?3, 1, ?4, ?5, ?5, ?6) "
                "ON CONFLICT (aggregate_type, aggregate_id) DO NOTHING");
            s.bind(1, type).bind(2, id).bind(3, to_state).bind(4, json_text(w.new_data)).bind(5, now);
            s.bind(6, clean(w.actor));
            ok = s.run() == 1;
          }
        }
        if (!ok) {
          auto s = stmt("DELETE FROM processed_events WHERE event_id = ?1");
          s.bind(1, event_id).run();
          res.applied[i] = WriteStatus::cas_lost;
          continue;
        }
        touched.insert(key);
        auto s = stmt(
            "INSERT INTO transition_audit (aggregate_type, aggregate_id, event_id, transition, from_state, to_state, "
            "from_version, to_version, source, actor, source_topic, source_partition, source_offset, occurred_at, "
            "applied_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)");
        s.bind(1, type).bind(2, id).bind(3, event_id).bind(4, clean(w.transition)).bind(5, clean(w.from_state));
        s.bind(6, to_state).bind(7, w.read_version).bind(8, w.read_version + 1).bind(9, clean(w.src.source));
        s.bind(10, clean(w.actor)).bind(11, clean(w.src.topic)).bind(12, w.src.partition).bind(13, w.src.offset);
        s.bind(14, clean(w.occurred_at)).bind(15, now);
        s.run();
        res.applied[i] = WriteStatus::written;
      }

      std::unordered_set<std::string> seen_dead;
      for (std::size_t i = 0; i < dead.size(); ++i) {
        const auto& d = dead[i];
        const auto event_id = clean(d.event_id);
        if (!seen_dead.insert(event_id).second) continue;
        const char* reason = to_string(d.reason);
        {
          auto s = stmt(
              "INSERT INTO processed_events (event_id, outcome, reason, aggregate_type, aggregate_id, version, state, "
              "processed_at) VALUES (?1, 'dead_lettered', ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (event_id) DO NOTHING");
          s.bind(1, event_id).bind(2, reason).bind(3, clean(d.aggregate_type)).bind(4, clean(d.aggregate_id));
          s.bind(5, d.version).bind(6, clean(d.state)).bind(7, now);
          if (s.run() == 0) continue;
        }
        auto s = stmt(kDeadLetterInsert +
                      ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17) "
                      "ON CONFLICT (event_id) DO NOTHING");
        bind_dead_letter(s, d, reason);
        s.bind(17, now);
        s.run();
        res.dead[i] = WriteStatus::written;
      }
      tx.commit();
    });
    return res;
  }

  // SQLite has no row locks (no FOR UPDATE SKIP LOCKED), and holding the
  // database's write lock while publishing would stall every writer for as long
  // as the broker takes. So the relay leases the rows instead: one short
  // transaction marks up to `limit` unpublished, unleased rows as held by this
  // store until now + kRelayLeaseSeconds; publish runs without any lock; a
  // second transaction marks them published (publish returned true) or releases
  // them (false or thrown). Concurrent relays never get the same row; a relay
  // that died mid-publish leaves a lease that expires, and its rows are then
  // published by the next relay (at least once, never lost).
  RelayResult relay_dead_letters(std::size_t limit, const PublishFn& publish) override {
    std::vector<DeadLetterRecord> recs;
    std::string ids;
    guarded([&] {
      recs.clear();
      Tx tx(*this);
      {
        auto s = stmt(std::string(kDeadLetterColumns) + " WHERE published_at IS NULL AND (relay_until IS NULL OR relay_until < " +
                      kNow + ") ORDER BY id LIMIT ?1");
        s.bind(1, static_cast<int64_t>(std::min<std::size_t>(limit, INT64_MAX)));
        while (s.step()) recs.push_back(record_from_row(s));
      }
      if (recs.empty()) return;
      Json arr = Json::array();
      for (const auto& r : recs) arr.push_back(r.id);
      ids = arr.dump();
      auto s = stmt(std::string("UPDATE dead_letters SET relay_owner = ?1, relay_until = strftime('%Y-%m-%dT%H:%M:%fZ', "
                                "'now', '+") +
                    std::to_string(kRelayLeaseSeconds) + " seconds') WHERE id IN (SELECT value FROM json_each(?2))");
      s.bind(1, owner_).bind(2, ids).run();
      tx.commit();
    });
    RelayResult out;
    if (recs.empty()) return out;
    out.selected = recs.size();

    std::vector<PublishResult> results;
    try {
      results = publish(recs);
    } catch (...) {
      release(ids);
      throw;
    }
    const auto plan = plan_relay(recs, results);
    if (plan.broker_failed) {
      release(ids);
      out.broker_failed = true;
      return out;
    }
    guarded([&] {
      Tx tx(*this);
      {
        auto s = stmt(std::string("UPDATE dead_letters SET published_at = coalesce(published_at, ") + kNow +
                      "), relay_owner = NULL, relay_until = NULL WHERE id IN (SELECT value FROM json_each(?1))");
        s.bind(1, plan.published_ids).run();
      }
      {
        // A deferred row is due again after 2^attempts seconds, at most 5 minutes.
        auto s = stmt(
            "UPDATE dead_letters SET publish_attempts = publish_attempts + 1, relay_owner = NULL, "
            "publish_error = (SELECT json_extract(j.value, '$.error') FROM json_each(?1) j "
            "                 WHERE json_extract(j.value, '$.id') = dead_letters.id), "
            "relay_until = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+' || min(1 << min(publish_attempts + 1, 12), 300) || "
            "' seconds') WHERE id IN (SELECT json_extract(value, '$.id') FROM json_each(?1))");
        s.bind(1, plan.deferred_rows).run();
      }
      tx.commit();
    });
    out.published = plan.published;
    out.deferred = plan.deferred;
    return out;
  }

  std::vector<DeadLetterRecord> list_dead_letters(const DeadLetterFilter& f) override {
    std::vector<DeadLetterRecord> out;
    guarded([&] {
      out.clear();
      const auto since = f.since ? std::optional<std::string>(timestamp(*f.since, "since")) : std::nullopt;
      const auto until = f.until ? std::optional<std::string>(timestamp(*f.until, "until")) : std::nullopt;
      auto s = stmt(std::string(kDeadLetterColumns) +
                    " WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR reason = ?2)"
                    " AND (?3 IS NULL OR aggregate_type = ?3) AND (?4 IS NULL OR aggregate_id = ?4)"
                    " AND (?5 IS NULL OR created_at >= ?5) AND (?6 IS NULL OR created_at < ?6)"
                    " AND (?7 IS NULL OR id > ?7) ORDER BY id LIMIT ?8");
      s.bind(1, f.status).bind(2, f.reason).bind(3, f.aggregate_type).bind(4, f.aggregate_id);
      s.bind(5, since).bind(6, until).bind(7, f.after_id);
      s.bind(8, static_cast<int64_t>(std::min<std::size_t>(f.limit, INT64_MAX)));
      while (s.step()) out.push_back(record_from_row(s));
    });
    return out;
  }

  std::optional<DeadLetterRecord> get_dead_letter(int64_t id) override {
    std::optional<DeadLetterRecord> out;
    guarded([&] {
      out.reset();
      auto s = stmt(std::string(kDeadLetterColumns) + " WHERE id = ?1");
      s.bind(1, id);
      if (s.step()) out = record_from_row(s);
    });
    return out;
  }

  // The write lock is held while `act` runs (SQLite has no row lock to take
  // instead): a second operator waits for it (up to the busy timeout), then
  // finds the row no longer open.
  bool resolve_dead_letter(int64_t id, const Resolution& r,
                           const std::function<bool(const DeadLetterRecord&)>& act) override {
    bool done = false;
    guarded([&] {
      done = false;
      Tx tx(*this);
      std::optional<DeadLetterRecord> rec;
      {
        auto s = stmt(std::string(kDeadLetterColumns) + " WHERE id = ?1 AND status = 'open'");
        s.bind(1, id);
        if (s.step()) rec = record_from_row(s);
      }
      if (!rec) return;
      if (!act(*rec)) return;  // rolls back
      auto s = stmt(std::string("UPDATE dead_letters SET status = ?2, resolved_at = ") + kNow +
                    ", resolved_by = ?3, note = ?4, replay_event_id = ?5 WHERE id = ?1");
      s.bind(1, id).bind(2, clean(r.status)).bind(3, clean(r.by)).bind(4, clean(r.note)).bind(5, clean(r.replay_event_id));
      s.run();
      tx.commit();
      done = true;
    });
    return done;
  }

  std::vector<WriteStatus> import_dead_letters(const std::vector<DeadLetterRecord>& recs) override {
    std::vector<WriteStatus> out(recs.size(), WriteStatus::duplicate);
    if (recs.empty()) return out;
    for (const auto& d : recs) {
      if (has_nul(d.event_id) || has_nul(d.reason) || has_nul(d.detail) || has_nul(d.aggregate_type) ||
          has_nul(d.aggregate_id) || has_nul(d.src.topic) || has_nul(d.consumer_group) ||
          (d.event && has_nul(*d.event)) || (d.conflict && has_nul(*d.conflict)))
        throw DataStoreError("database rejected the data: dead letter " + clean(d.event_id) +
                             " contains a NUL character");
    }
    guarded([&] {
      std::fill(out.begin(), out.end(), WriteStatus::duplicate);
      Tx tx(*this);
      const auto now = now_rfc3339();
      for (std::size_t i = 0; i < recs.size(); ++i) {
        const auto& d = recs[i];
        const auto created = d.created_at.empty() ? now : timestamp(d.created_at, "created_at");
        auto s = stmt(kDeadLetterInsert +
                      ", status, published_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, "
                      "?15, ?16, ?17, 'open', ?18) ON CONFLICT (event_id) DO NOTHING");
        bind_dead_letter(s, d, clean(d.reason));
        s.bind(17, created).bind(18, now);
        if (s.run() == 1) out[i] = WriteStatus::written;
      }
      tx.commit();
    });
    return out;
  }

  void ping() override {
    guarded([&] {
      auto s = stmt("SELECT count(*) FROM sqlite_master");
      s.step();
    });
  }

  std::vector<MigrationStatus> migration_status() override {
    std::vector<MigrationStatus> out;
    guarded([&] {
      Tx tx(*this);
      ensure_migrations_table();
      out = migration_statuses(sqlite_migrations(), applied_versions());
      tx.commit();
    });
    return out;
  }

  // BEGIN IMMEDIATE: one migrator at a time; DDL is transactional in SQLite, so
  // a failing migration leaves the schema as it was.
  std::vector<MigrationStatus> migrate_up() override {
    std::vector<MigrationStatus> done;
    guarded([&] {
      done.clear();
      Tx tx(*this);
      ensure_migrations_table();
      const auto applied = applied_versions();
      for (const auto& m : sqlite_migrations()) {
        if (is_applied(applied, m.version)) continue;
        exec(m.up);
        auto s = stmt("INSERT INTO lockstep_schema_migrations (version, name, applied_at) VALUES (?1, ?2, " +
                      std::string(kNow) + ")");
        s.bind(1, m.version).bind(2, m.name).run();
        done.push_back({m.version, m.name, true});
      }
      tx.commit();
    });
    stmts_.clear();
    return done;
  }

  std::vector<MigrationStatus> migrate_down(int n) override {
    std::vector<MigrationStatus> done;
    guarded([&] {
      done.clear();
      stmts_.clear();  // no cached statement may hold on to a table being dropped
      Tx tx(*this);
      ensure_migrations_table();
      auto applied = applied_versions();
      std::sort(applied.rbegin(), applied.rend());
      for (int k = 0; k < n && k < static_cast<int>(applied.size()); ++k) {
        const auto& m = known_migration(sqlite_migrations(), applied[k]);
        exec(m.down);
        auto s = stmt("DELETE FROM lockstep_schema_migrations WHERE version = ?1");
        s.bind(1, m.version).run();
        done.push_back({m.version, m.name, false});
      }
      tx.commit();
    });
    stmts_.clear();
    return done;
  }

  int schema_version() override {
    int v = 0;
    guarded([&] {
      v = 0;
      {
        auto s = stmt("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'lockstep_schema_migrations'");
        s.step();
        if (s.i64(0) == 0) return;
      }
      auto s = stmt("SELECT coalesce(max(version), 0) FROM lockstep_schema_migrations");
      s.step();
      v = static_cast<int>(s.i64(0));
    });
    return v;
  }

 private:
  // A write transaction: BEGIN IMMEDIATE takes the write lock now (waiting up
  // to the busy timeout), rolled back unless committed.
  class Tx {
   public:
    explicit Tx(SqliteStore& st) : st_(st) {
      st_.exec("BEGIN IMMEDIATE");
      open_ = true;
    }
    ~Tx() {
      if (open_ && st_.db_ && !sqlite3_get_autocommit(st_.db_.get())) sqlite3_exec(st_.db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
    }
    Tx(const Tx&) = delete;
    Tx& operator=(const Tx&) = delete;
    void commit() {
      st_.exec("COMMIT");
      open_ = false;
    }

   private:
    SqliteStore& st_;
    bool open_ = false;
  };

  sqlite3* db() {
    if (db_) return db_.get();
    sqlite3* raw = nullptr;
    const int rc = sqlite3_open_v2(path_.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                   nullptr);
    SqliteHandle h(raw);  // owns it even when opening failed
    if (rc != SQLITE_OK) fail(raw, rc, "cannot open database " + path_);
    sqlite3_extended_result_codes(raw, 1);
    sqlite3_busy_timeout(raw, kBusyTimeoutMs);
    db_ = std::move(h);
    try {
      // journal_mode=WAL is stored in the file: the first connection switches it.
      std::string mode;
      {
        auto s = stmt("PRAGMA journal_mode = WAL");
        if (s.step()) mode = s.text(0);
      }
      if (mode != "wal")
        throw SqliteError(SQLITE_CANTOPEN, "database " + path_ + " cannot use WAL journal mode (got '" + mode + "')");
      exec("PRAGMA synchronous = FULL");
      exec("PRAGMA foreign_keys = ON");
    } catch (...) {
      stmts_.clear();
      db_.reset();
      throw;
    }
    return db_.get();
  }

  Stmt stmt(const std::string& sql) {
    sqlite3* d = db();
    auto it = stmts_.find(sql);
    if (it == stmts_.end()) {
      sqlite3_stmt* raw = nullptr;
      const int rc = sqlite3_prepare_v3(d, sql.c_str(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &raw,
                                        nullptr);
      SqliteStmtHandle h(raw);
      if (rc != SQLITE_OK) {
        const std::string msg = sqlite3_errmsg(d);
        if (msg.rfind("no such table", 0) == 0 || msg.rfind("no such column", 0) == 0)
          throw SqliteError(rc, "database schema is not migrated (run `lockstep migrate up`): " + msg);
        fail(d, rc, "cannot prepare statement");
      }
      it = stmts_.emplace(sql, std::move(h)).first;
    }
    return Stmt(d, it->second.get());
  }

  void exec(const std::string& sql) {
    sqlite3* d = db();
    char* err = nullptr;
    const int rc = sqlite3_exec(d, sql.c_str(), nullptr, nullptr, &err);
    std::unique_ptr<char, decltype(&sqlite3_free)> owned(err, &sqlite3_free);
    if (rc != SQLITE_OK) fail(d, rc, err ? std::string(err) : std::string("statement failed"));
  }

  // An RFC 3339 timestamp in the stored canonical form (UTC, milliseconds);
  // DataStoreError when it is not one (PostgreSQL rejects it likewise).
  std::string timestamp(const std::string& text, const char* what) {
    auto s = stmt("SELECT strftime('%Y-%m-%dT%H:%M:%fZ', ?1)");
    s.bind(1, text);
    if (!s.step() || s.is_null(0))
      throw DataStoreError(std::string("database rejected the data: ") + what + " is not a timestamp: " + clean(text));
    return s.text(0);
  }

  // Publish failed: give the rows back at once (else the lease expires).
  void release(const std::string& ids) noexcept {
    try {
      Tx tx(*this);
      auto s = stmt("UPDATE dead_letters SET relay_owner = NULL, relay_until = NULL "
                    "WHERE relay_owner = ?1 AND id IN (SELECT value FROM json_each(?2))");
      s.bind(1, owner_).bind(2, ids).run();
      tx.commit();
    } catch (...) {
    }
  }

  void ensure_migrations_table() {
    exec("CREATE TABLE IF NOT EXISTS lockstep_schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
         "applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))) STRICT");
  }

  std::vector<int> applied_versions() {
    std::vector<int> v;
    auto s = stmt("SELECT version FROM lockstep_schema_migrations ORDER BY version");
    while (s.step()) v.push_back(static_cast<int>(s.i64(0)));
    return v;
  }

  void reset() {
    stmts_.clear();
    db_.reset();
  }

  template <class F>
  void guarded(F&& f) {
    try {
      f();
    } catch (const SqliteError& e) {
      const int primary = e.code() & 0xff;
      switch (primary) {
        case SQLITE_CONSTRAINT:
        case SQLITE_MISMATCH:
        case SQLITE_TOOBIG:
          throw DataStoreError(std::string("database rejected the data (") + sqlite3_errstr(primary) +
                               "): " + first_line(e.what()));
        case SQLITE_IOERR:
        case SQLITE_CORRUPT:
        case SQLITE_CANTOPEN:
        case SQLITE_NOTADB:
        case SQLITE_NOMEM:
        case SQLITE_PROTOCOL:
        case SQLITE_FULL:
        case SQLITE_READONLY:
        case SQLITE_PERM:
          reset();  // reopen next time
          throw TransientStoreError(std::string("database error (") + sqlite3_errstr(primary) +
                                    "): " + first_line(e.what()));
        default:
          // BUSY / LOCKED (another writer held the lock past the busy timeout),
          // a missing schema and anything else: a fault of the deployment, not
          // of the event. Keep the event and retry.
          throw TransientStoreError(std::string("database error (") + sqlite3_errstr(primary) +
                                    "): " + first_line(e.what()));
      }
    }
  }

  std::string path_;
  std::string owner_;  // this store's name on relay leases
  SqliteHandle db_;
  // Declared after db_: destroyed first, so statements are finalized before the
  // connection closes.
  std::map<std::string, SqliteStmtHandle> stmts_;
};

std::unique_ptr<Store> make_sqlite_store(const std::string& url) { return std::make_unique<SqliteStore>(url); }

}  // namespace lockstep
