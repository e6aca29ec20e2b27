// The PostgreSQL store (libpqxx 6.4), one class whose members are defined by
// role: connection.cpp (connection, prepared statements, error mapping),
// outcomes.cpp, outbox.cpp, dead_letters.cpp, schema.cpp. Private to the store
// library.
#pragma once

#include <pqxx/pqxx>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "lockstep/store.hpp"

namespace lockstep::postgres {

// to_char(<col> AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'): a
// timestamp column as the store's RFC 3339 text.
std::string ts(const std::string& col);
// A nullable text field.
std::optional<std::string> opt(const pqxx::field& f);

// The statements of each role, prepared on every new connection once the schema
// exists (outcomes.cpp, outbox.cpp).
void prepare_outcome_statements(pqxx::connection& c);
void prepare_outbox_statements(pqxx::connection& c);

// "SELECT <every dead_letters column of a DeadLetterRecord> FROM dead_letters",
// and one of its rows as a record (dead_letters.cpp; the outbox reads them too).
const std::string& dead_letter_select();
DeadLetterRecord record_from_row(const pqxx::row& row);
// A dead-letter filter as the JSON document $1 of kDeadLetterWhere, which
// matches the dead_letters rows it selects (dead_letters.cpp; the inspector
// counts them).
std::string dead_letter_filter_json(const DeadLetterAdmin::DeadLetterFilter& f);
extern const char* const kDeadLetterWhere;

class PgStore final : public Store {
 public:
  PgStore(std::string url, const StoreOptions& options);

  // The connection (connection.cpp).
  void interrupt() noexcept override;
  const char* dialect() const override { return "postgresql"; }
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
  bool resolve_dead_letter(int64_t id, const Resolution& res,
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
  // Connected (again, after reset()), with the prepared statements once the
  // schema exists.
  pqxx::connection& connection();
  // For the prepared data statements, which exist only once the schema does:
  // before `migrate up` they fail as a transient fault instead of letting a
  // pqxx::argument_error ("Unknown prepared statement") escape the interface.
  pqxx::connection& data_connection();
  bool schema_ready();
  void prepare();
  void reset();

  // Runs `f`; a libpqxx error escapes as TransientStoreError or DataStoreError
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

  std::string url_;
  StoreOptions options_;
  std::mutex conn_mu_;  // conn_ itself (interrupt() reads it from another thread)
  std::atomic<bool> interrupted_{false};
  std::unique_ptr<pqxx::connection> conn_;
  bool prepared_ = false;
  int plan_uses_ = 0;  // uses of the data connection since its cached plans were discarded
};

}  // namespace lockstep::postgres
