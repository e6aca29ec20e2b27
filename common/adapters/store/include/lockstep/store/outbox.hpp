// The dead_letters outbox (docs/event.md "Outcomes", docs/operations.md "The dead-letter record"): the relay that publishes what the
// hot path recorded, and marks it published.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "lockstep/store/types.hpp"

namespace lockstep {

class Outbox {
 public:
  virtual ~Outbox() = default;

  // `publish` gets up to `limit` unpublished dead letters that are due (skipping
  // rows another relay holds, and rows deferred after a failed publish until
  // their retry time) and returns one PublishResult per record, in order. Every
  // delivered row is marked published. A failed row is deferred
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
  std::size_t relay_dead_letters(std::size_t limit,
                                 const std::function<bool(const std::vector<DeadLetterRecord>&)>& publish);
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
RelayPlan plan_relay(const std::vector<DeadLetterRecord>& rows, const std::vector<Outbox::PublishResult>& results);

}  // namespace lockstep
