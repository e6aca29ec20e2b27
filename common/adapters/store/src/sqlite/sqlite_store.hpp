// Embedded store: SQLite (C API) with the PostgreSQL store's semantics over one
// database file. WAL journal (readers never block the writer), synchronous=FULL
// (a committed outcome is on disk before commit() returns, hence before its
// offset is committed), and every write transaction is BEGIN IMMEDIATE: it takes
// the database's single write lock up front, waiting up to the busy timeout, so
// two connections never deadlock upgrading a read to a write. Within that
// transaction each applied write is still a true compare-and-set
// (UPDATE ... WHERE version = ? AND state = ?), so the result does not depend on
// the lock: a write whose read is stale loses, exactly as on PostgreSQL.
//
// One class whose members are defined by role: connection.cpp (connection,
// statements, transactions, error mapping), outcomes.cpp, outbox.cpp,
// dead_letters.cpp, schema.cpp; values.cpp: how values are stored. Private to
// the store library.
#pragma once

#include <sqlite3.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "codec.hpp"
#include "lockstep/sqlite_handle.hpp"
#include "lockstep/store.hpp"
#include "statement.hpp"

namespace lockstep::sqlite {

inline constexpr const char* kNow = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

// Values as stored (values.cpp).
// JSON text as stored: invalid UTF-8 replaced (as the PostgreSQL store's batch
// document does), so the column always holds valid JSON.
std::string json_text(const Json& j);
std::optional<std::string> opt_json_text(const std::optional<Json>& j);
// A text value as stored: invalid UTF-8 replaced by U+FFFD, like on PostgreSQL,
// where every text travels inside the batch's JSON document.
std::string clean(const std::string& s);
std::optional<std::string> clean(const std::optional<std::string>& s);
// Whether a value holds a NUL character, which PostgreSQL cannot store in text
// or jsonb (and the embedded store refuses likewise).
bool has_nul(const std::string& s);
bool has_nul(const std::optional<std::string>& s);
bool has_nul(const Json& j);

// The dead_letters row (dead_letters.cpp; the outbox and commit() use it too).
inline constexpr const char* kDeadLetterColumns =
    "SELECT id, event_id, reason, detail, aggregate_type, aggregate_id, event, raw, kafka_key, headers, conflict, "
    "source_topic, source_partition, source_offset, source_timestamp, consumer_group, attempts, status, created_at, "
    "resolved_at, resolved_by, note, replay_event_id FROM dead_letters";
DeadLetterRecord record_from_row(const Stmt& s);
// The dead_letters rows a DeadLetterFilter selects: ?1..?7, bound by
// SqliteStore::bind_dead_letter_filter (list_dead_letters, count_dead_letters).
inline constexpr const char* kDeadLetterWhere =
    " WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR reason = ?2)"
    " AND (?3 IS NULL OR aggregate_type = ?3) AND (?4 IS NULL OR aggregate_id = ?4)"
    " AND (?5 IS NULL OR created_at >= ?5) AND (?6 IS NULL OR created_at < ?6)"
    " AND (?7 IS NULL OR id > ?7)";

// The dead_letters columns that commit() and import_dead_letters() both fill,
// ?1..?16 in this order (bind_dead_letter); created_at is ?17.
inline const std::string kDeadLetterInsert =
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

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(const std::string& url);

  // The connection (connection.cpp).
  const char* dialect() const override { return "sqlite"; }
  void ping() override;

  // OutcomeStore (outcomes.cpp).
  std::unordered_map<std::string, PriorOutcome> find_outcomes(const std::vector<std::string>& ids) override;
  std::vector<Snapshot> read(const std::vector<AggregateRef>& refs) override;
  CommitResult commit(const std::vector<AppliedWrite>& applied, const std::vector<DeadLetterWrite>& dead) override;

  // Outbox (outbox.cpp).
  RelayResult relay_dead_letters(std::size_t limit, const PublishFn& publish) override;

  // DeadLetterAdmin (dead_letters.cpp).
  std::vector<DeadLetterRecord> list_dead_letters(const DeadLetterFilter& f) override;
  std::optional<DeadLetterRecord> get_dead_letter(int64_t id) override;
  bool resolve_dead_letter(int64_t id, const Resolution& r,
                           const std::function<bool(const DeadLetterRecord&)>& act) override;
  std::vector<WriteStatus> import_dead_letters(const std::vector<DeadLetterRecord>& recs) override;

  // Inspector (inspector.cpp).
  std::optional<AggregateRecord> get_aggregate(const AggregateRef& ref) override;
  std::vector<AuditRecord> audit_history(const AggregateRef& ref, std::optional<int64_t> after_id,
                                         std::size_t limit) override;
  std::vector<DeadLetterCount> count_dead_letters(const DeadLetterFilter& f) override;

  // SchemaStore (schema.cpp).
  std::vector<MigrationStatus> migration_status() override;
  std::vector<MigrationStatus> migrate_up() override;
  std::vector<MigrationStatus> migrate_down(int n) override;
  int schema_version() override;

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
      if (open_ && st_.db_ && !sqlite3_get_autocommit(st_.db_.get()))
        sqlite3_exec(st_.db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
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
  using Keys = std::set<std::pair<std::string, std::string>>;  // (aggregate_type, aggregate_id)

  // The connection and its statements (connection.cpp).
  sqlite3* db();  // opened (again, after reset()) on first use
  Stmt stmt(const std::string& sql);  // prepared once per connection
  void exec(const std::string& sql);
  // An RFC 3339 timestamp in the stored canonical form (UTC, milliseconds);
  // DataStoreError when it is not one (PostgreSQL rejects it likewise).
  std::string timestamp(const std::string& text, const char* what);
  void reset();
  // Binds ?1..?7 of kDeadLetterWhere (dead_letters.cpp).
  void bind_dead_letter_filter(Stmt& s, const DeadLetterFilter& f);

  // The steps of commit() (outcomes.cpp), inside its transaction.
  WriteStatus write_applied(const AppliedWrite& w, const std::string& now, Keys& touched);
  bool compare_and_set(const AppliedWrite& w, const std::string& type, const std::string& id,
                       const std::string& to_state, const std::string& now);
  void insert_audit(const AppliedWrite& w, const std::string& event_id, const std::string& type,
                    const std::string& id, const std::string& to_state, const std::string& now);
  WriteStatus write_dead_letter(const DeadLetterWrite& d, const std::string& now);

  // The steps of relay_dead_letters() (outbox.cpp).
  std::vector<DeadLetterRecord> lease_due(std::size_t limit, std::string& ids);
  void settle(const RelayPlan& plan);
  void release(const std::string& ids) noexcept;

  // The bookkeeping of the migrations (schema.cpp).
  void ensure_migrations_table();
  std::vector<int> applied_versions();

  // Runs `f`; an SqliteError escapes as TransientStoreError or DataStoreError
  // (rethrow_as_store_error), anything else unchanged.
  template <class F>
  void guarded(F&& f) {
    try {
      f();
    } catch (...) {
      rethrow_as_store_error();
    }
  }
  // Inside a catch block: maps the exception being handled (connection.cpp).
  [[noreturn]] void rethrow_as_store_error();

  std::string path_;
  std::string owner_;  // this store's name on relay leases
  SqliteHandle db_;
  // Declared after db_: destroyed first, so statements are finalized before the
  // connection closes.
  std::map<std::string, SqliteStmtHandle> stmts_;
};

}  // namespace lockstep::sqlite
