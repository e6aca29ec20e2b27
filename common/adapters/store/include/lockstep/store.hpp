// The store (docs/database.md): aggregates, audit, outcomes and dead letters, by role.
// Each caller takes the narrowest role it uses, and a test that changes one
// behaviour implements one small interface:
//   OutcomeStore     the hot path: prior outcomes, reads, the batch commit (engine)
//   Outbox           the dead-letter relay (DeadLetterRelay)
//   DeadLetterAdmin  operators' actions on dead letters (`lockstep dlq`)
//   SchemaStore      migrations (`lockstep migrate`)
//   Inspector        operators' reads: aggregates, audit, dead-letter counts
// A Store is all five over one database connection, as open_store() gives it;
// not thread-safe (one per thread).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "lockstep/store/dead_letter_admin.hpp"
#include "lockstep/store/inspector.hpp"
#include "lockstep/store/outbox.hpp"
#include "lockstep/store/outcome_store.hpp"
#include "lockstep/store/schema_store.hpp"
#include "lockstep/store/types.hpp"

namespace lockstep {

class Store : public OutcomeStore, public Outbox, public DeadLetterAdmin, public SchemaStore,
              public Inspector {
 public:
  ~Store() override = default;

  // The connection itself, whatever role uses it.
  virtual void ping() = 0;
  virtual const char* dialect() const = 0;  // "postgresql" | "sqlite"

  // Cuts this store's connection while another thread may be inside one of its
  // calls, which then throws TransientStoreError (a database that stopped
  // answering, or shutdown). Thread-safe; the next call reconnects.
  virtual void interrupt() noexcept {}
};

struct StoreOptions {
  // > 0: the server aborts a statement running longer than this, so a call that
  // is still waiting after it has met a hang, not a slow query (PostgreSQL).
  std::chrono::milliseconds statement_timeout{0};
  // PostgreSQL: the hot-path statements run on plans cached for this many
  // uses of the connection, then planned anew for the tables as they are
  // (each use writes at most one batch, so a plan never falls far behind
  // the tables' growth). Planning every use cost the server some 5 us per event.
  int plan_refresh_every = 64;
};

// Opens a store for a database URL (postgresql://, postgres://, or a libpq
// key=value string; sqlite:///absolute/path or sqlite:relative/path for the
// embedded store). Throws TransientStoreError when the database is unreachable.
std::unique_ptr<Store> open_store(const std::string& url, const StoreOptions& options = {});

// The file path of a sqlite: URL; throws std::invalid_argument when it has none or
// names an in-memory database (each connection would get its own).
std::string sqlite_path(const std::string& url);

// RFC 3339 UTC timestamp, millisecond precision: "YYYY-MM-DDTHH:MM:SS.mmmZ".
std::string to_rfc3339(std::chrono::system_clock::time_point t);
std::string now_rfc3339();  // of now

// Base64 (RFC 4648, padded).
std::string base64_encode(std::string_view bytes);
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace lockstep
