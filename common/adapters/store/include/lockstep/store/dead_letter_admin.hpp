// What operators do with dead letters (docs/cli.md, `lockstep dlq`): list and
// show them, close them (replayed or discarded), and import a dead-letter
// topic's messages.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "lockstep/store/types.hpp"

namespace lockstep {

class DeadLetterAdmin {
 public:
  virtual ~DeadLetterAdmin() = default;

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
};

}  // namespace lockstep
