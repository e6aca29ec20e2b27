// The store (contract §6): aggregates, audit, outcomes and dead letters.
// One Store object = one database connection; not thread-safe (one per thread).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "lockstep/event.hpp"
#include "lockstep/header.hpp"
#include "lockstep/machine.hpp"

namespace lockstep {

// The database is unreachable or the transaction failed for a reason that is not
// the event's (connection lost, shutdown, deadlock, serialization failure):
// nothing was written; retry the same work later.
class TransientStoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The database rejected the data itself (e.g. a value it cannot store): retrying
// the same input cannot succeed. Nothing was written.
class DataStoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct PriorOutcome {
  std::string outcome;                 // "applied" | "dead_lettered"
  std::optional<std::string> reason;
  std::optional<int64_t> version;
  std::optional<std::string> state;
};

struct AggregateRef {
  std::string type;
  std::string id;
};

struct AppliedWrite {
  std::string event_id;
  std::string aggregate_type;
  std::string aggregate_id;
  std::string transition;
  std::optional<std::string> from_state;  // nullopt on creation
  std::string to_state;
  int64_t read_version = 0;               // CAS: row must still be at this version (0: must not exist)
  Json new_data;
  std::optional<std::string> actor;
  std::optional<std::string> occurred_at;
  SourceRef src;
};

struct DeadLetterWrite {
  std::string event_id;
  DeadReason reason = DeadReason::malformed;
  std::string detail;
  std::optional<std::string> aggregate_type;
  std::optional<std::string> aggregate_id;
  std::optional<Json> event;  // the original event; nullopt when malformed
  std::string raw;            // the raw message value, always kept
  std::optional<std::string> kafka_key;
  std::vector<Header> headers;
  std::optional<Json> conflict;  // {expected_version, actual_version, ...} when an aggregate exists
  SourceRef src;
  std::string consumer_group;
  int attempts = 0;
  std::optional<int64_t> version;  // stored version seen at the decision
  std::optional<std::string> state;
};

enum class WriteStatus { written, duplicate, cas_lost };

struct CommitResult {
  std::vector<WriteStatus> applied;  // one per AppliedWrite, same order
  std::vector<WriteStatus> dead;     // one per DeadLetterWrite (never cas_lost)
};

// A dead_letters row as stored.
struct DeadLetterRecord {
  int64_t id = 0;
  std::string event_id;
  std::string reason;
  std::string detail;
  std::optional<std::string> aggregate_type;
  std::optional<std::string> aggregate_id;
  std::optional<Json> event;
  std::string raw;
  std::optional<std::string> kafka_key;
  std::vector<Header> headers;
  std::optional<Json> conflict;
  SourceRef src;
  std::string consumer_group;
  int attempts = 0;
  std::string status;
  std::string created_at;  // RFC 3339 UTC
  std::optional<std::string> resolved_at;
  std::optional<std::string> resolved_by;
  std::optional<std::string> note;
  std::optional<std::string> replay_event_id;  // status replayed: the event_id its replay carries
};

struct MigrationStatus {
  int version;
  std::string name;
  bool applied;
};

class Store {
 public:
  virtual ~Store() = default;

  // Outcomes already recorded for these event ids.
  virtual std::unordered_map<std::string, PriorOutcome> find_outcomes(const std::vector<std::string>& event_ids) = 0;
  // Current aggregates, one Snapshot per ref in the same order; read without locks.
  virtual std::vector<Snapshot> read(const std::vector<AggregateRef>& refs) = 0;
  // Writes all of it in ONE transaction. Each applied write is a compare-and-set
  // on (read_version, from_state) and carries its audit and processed_events rows;
  // each dead letter carries its processed_events row and its outbox row. Per
  // write: written, duplicate (the event_id got an outcome meanwhile), or cas_lost.
  // Throws TransientStoreError / DataStoreError; then nothing was written.
  virtual CommitResult commit(const std::vector<AppliedWrite>& applied,
                              const std::vector<DeadLetterWrite>& dead) = 0;

  // Outbox relay. `publish` gets up to `limit` unpublished dead letters that are
  // due (skipping rows another relay holds, and rows deferred after a failed
  // publish until their retry time) and returns one PublishResult per record, in
  // order. Every delivered row is marked published. A failed row is deferred
  // (publish_attempts + 1, publish_error, retried after a backoff of its own) when
  // its failure is permanent or when other rows of the batch were delivered, so
  // that one message the broker refuses never holds back the rows behind it. When
  // nothing was delivered and no failure was permanent (the broker is away),
  // nothing changes and `broker_failed` is set: the caller backs off as a whole.
  struct PublishResult {
    bool delivered = false;
    bool permanent = false;  // retrying the same message cannot succeed
    std::string error;
  };
  using PublishFn = std::function<std::vector<PublishResult>(const std::vector<DeadLetterRecord>&)>;
  struct RelayResult {
    std::size_t selected = 0;
    std::size_t published = 0;
    std::size_t deferred = 0;
    bool broker_failed = false;
  };
  virtual RelayResult relay_dead_letters(std::size_t limit, const PublishFn& publish) = 0;
  // All or nothing: `publish` returns whether every row was delivered. Returns
  // how many rows were marked published.
  std::size_t relay_dead_letters(std::size_t limit, const std::function<bool(const std::vector<DeadLetterRecord>&)>& publish);

  virtual void ping() = 0;

  // Operators (dead-letter tooling).
  struct DeadLetterFilter {
    std::optional<std::string> status;
    std::optional<std::string> reason;
    std::optional<std::string> aggregate_type;
    std::optional<std::string> aggregate_id;
    std::optional<std::string> since;  // created_at >= since; canonical UTC "YYYY-MM-DDTHH:MM:SS.mmmZ"
    std::optional<std::string> until;  // created_at <  until; same form
    std::optional<int64_t> after_id;   // id > after_id (paging)
    std::size_t limit = 100;
  };
  // Matching rows in id order, at most `limit`.
  virtual std::vector<DeadLetterRecord> list_dead_letters(const DeadLetterFilter& f) = 0;
  virtual std::optional<DeadLetterRecord> get_dead_letter(int64_t id) = 0;

  // An operator closes an open dead letter: who, when (now) and why are recorded.
  struct Resolution {
    std::string status;  // "replayed" | "discarded"
    std::string by;
    std::optional<std::string> note;
    std::optional<std::string> replay_event_id;  // replayed: the event_id its replay carries
  };
  // Locks dead letter `id` while it is open, calls `act` with it (e.g. to publish its
  // replay) and, when `act` returns true, records `r` in the same transaction.
  // Returns false without calling `act` when no such row is open (missing, or
  // resolved meanwhile by someone else). Whatever `act` throws propagates, and
  // then nothing is recorded. Throws TransientStoreError.
  virtual bool resolve_dead_letter(int64_t id, const Resolution& r,
                                   const std::function<bool(const DeadLetterRecord&)>& act) = 0;

  // `dlq drain`: stores dead letters read from a dead-letter topic as open and
  // already published (the relay must not publish them again); `created_at` is
  // kept. Per record, same order: written, or duplicate when its event_id already
  // has a dead letter. One transaction. Throws TransientStoreError / DataStoreError.
  virtual std::vector<WriteStatus> import_dead_letters(const std::vector<DeadLetterRecord>& recs) = 0;

  // Schema.
  virtual std::vector<MigrationStatus> migration_status() = 0;
  virtual std::vector<MigrationStatus> migrate_up() = 0;        // returns what it applied
  virtual std::vector<MigrationStatus> migrate_down(int n) = 0;  // returns what it reverted
  virtual int schema_version() = 0;

  virtual const char* dialect() const = 0;

  // Cuts this store's connection while another thread may be inside one of its
  // calls, which then throws TransientStoreError (a database that stopped
  // answering, or shutdown). Thread-safe; the next call reconnects.
  virtual void interrupt() noexcept {}
};

struct StoreOptions {
  // > 0: the server aborts a statement running longer than this, so a call that
  // is still waiting after it has met a hang, not a slow query (PostgreSQL).
  std::chrono::milliseconds statement_timeout{0};
};

// What a relay pass does with the publish results of its rows (shared by the
// stores): the rows to mark published and the rows to defer, as the JSON
// arrays both stores' statements take ([id, …] and [{"id", "error"}, …]).
struct RelayPlan {
  std::size_t published = 0;
  std::size_t deferred = 0;
  std::string published_ids;  // JSON array of ids
  std::string deferred_rows;  // JSON array of {"id", "error"}
  bool broker_failed = false;
};
RelayPlan plan_relay(const std::vector<DeadLetterRecord>& rows, const std::vector<Store::PublishResult>& results);

// Opens a store for a database URL (postgresql://, postgres://, or a libpq
// key=value string; sqlite:///absolute/path or sqlite:relative/path for the
// embedded store). Throws TransientStoreError when the database is unreachable.
std::unique_ptr<Store> open_store(const std::string& url, const StoreOptions& options = {});

// The file path of a sqlite: URL; throws std::invalid_argument when it has none or
// names an in-memory database (each connection would get its own).
std::string sqlite_path(const std::string& url);

// Highest migration version this build knows.
int latest_schema_version();

// RFC 3339 UTC timestamp, millisecond precision: "YYYY-MM-DDTHH:MM:SS.mmmZ".
std::string to_rfc3339(std::chrono::system_clock::time_point t);
std::string now_rfc3339();  // of now

// Base64 (RFC 4648, padded).
std::string base64_encode(std::string_view bytes);
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace lockstep
