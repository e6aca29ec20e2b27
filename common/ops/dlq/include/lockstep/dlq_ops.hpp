// Dead-letter operations as operators run them, whoever asks (`lockstep dlq`,
// the admin API): which dead letters a request selects, whether it may be done,
// and replay / discard themselves. One implementation; the CLI prints its
// results, the API serialises them. Nothing here prints.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "lockstep/dlq.hpp"
#include "lockstep/kafka.hpp"
#include "lockstep/store.hpp"

namespace lockstep::dlq {

// A request that cannot be done as asked; nothing was changed. field(): the input at fault
// ("status", "since", "ids", "note", "mode", ...; "" when none). CLI: exit 2; API: 400.
// Messages name inputs in backquotes (`since`, `aggregate_id`, `rebase`), which
// the CLI turns into its flags (--since, --aggregate-id, --rebase).
class InvalidInput : public std::runtime_error {
 public:
  InvalidInput(std::string field, const std::string& msg);
  const std::string& field() const;

 private:
  std::string field_;
};
// No such dead letter. API 404, CLI exit 2.
class NotFound : public std::runtime_error {
 public:
  using runtime_error::runtime_error;
};
// Not open / not replayable. API 409, CLI exit 2.
class Conflict : public std::runtime_error {
 public:
  using runtime_error::runtime_error;
};

struct FilterText {
  std::optional<std::string> status, reason, aggregate_type, aggregate_id, since, until;
};
// Validates (status open|replayed|discarded, reason a known one, aggregate_id needs aggregate_type,
// since/until via parse_time) -> DeadLetterFilter; throws InvalidInput naming the field.
// Text a request may pass on to the database: no NUL character (PostgreSQL's text cannot hold
// one) and valid UTF-8; throws InvalidInput(field) otherwise.
void check_text(const std::string& field, const std::string& value);
DeadLetterAdmin::DeadLetterFilter parse_filter(const FilterText& t, std::chrono::system_clock::time_point now);
bool has_filter(const DeadLetterAdmin::DeadLetterFilter& f);

struct Selection {  // which dead letters: ids, or every open one matching filter
  std::vector<int64_t> ids;
  bool by_filter = false;  // true: `filter` (status forced to open)
  DeadLetterAdmin::DeadLetterFilter filter;
};

struct ReplayRequest {
  VersionMode mode = VersionMode::keep;
  std::string by;  // who: CLI operator_name(), API the token's name
  std::optional<std::string> note;
  std::optional<std::string> topic;  // default: each dead letter's source topic
  bool dry_run = false;
};

struct ItemResult {
  int64_t id = 0;
  std::string event_id, reason;
  // "replayed" | "discarded" | "would_replay" | "would_discard" | "lost" (resolved meanwhile by someone else)
  std::string status;
  std::optional<std::string> replay_event_id, topic;  // replays
  std::optional<int32_t> partition;                   // a published replay
  std::optional<int64_t> offset;
};

struct Report {
  std::vector<ItemResult> items;
  std::size_t skipped = 0;  // matched a filter but not replayable
};

// The checks replay() and discard() make of a request before reading anything
// (its selection's shape, mode, note, by, topic); throw InvalidInput. For a caller
// that refuses a bad request before connecting to the database.
void check_replay(const Selection& s, const ReplayRequest& r);
void check_discard(const Selection& s, const std::string& by, const std::string& note);

using Publish = std::function<Delivery(const OutMessage&)>;  // delivers one message or throws KafkaError

// `admin` holds the row lock while `reader` (a second connection) reads the current aggregate (rebase).
// ids: each must exist (NotFound), be open and replayable (Conflict), before anything is done.
// progress (optional) is called after each item.
Report replay(DeadLetterAdmin& admin, OutcomeStore& reader, const Selection& s, const ReplayRequest& r,
              const Publish& publish, const std::function<void(const ItemResult&)>& progress = {});
// note is required: blank -> InvalidInput("note", ...).
Report discard(DeadLetterAdmin& admin, const Selection& s, const std::string& by, const std::string& note,
               bool dry_run, const std::function<void(const ItemResult&)>& progress = {});

// The dead letter as operators see it (the CLI's `dlq show --json` shape), plus "replay"
// (outcome of its replay event, when replayed) from show().
Json dead_letter_json(const DeadLetterRecord& d);
Json show(DeadLetterAdmin& admin, OutcomeStore& outcomes, int64_t id);  // NotFound

}  // namespace lockstep::dlq
