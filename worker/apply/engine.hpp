// The engine: turns a batch of consumed events (distinct aggregate keys) into
// outcomes against an OutcomeStore, with per-event compare-and-set semantics.
#pragma once

#include <chrono>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "apply/backoff.hpp"
#include "lockstep/config.hpp"
#include "lockstep/kafka.hpp"
#include "lockstep/metrics.hpp"
#include "lockstep/store/outcome_store.hpp"
#include "lockstep/wire.hpp"
#include "schedule/work.hpp"

namespace lockstep {

enum class Outcome { applied, duplicate, dead_lettered, retry };
const char* to_string(Outcome o);

struct ItemResult {
  Outcome outcome = Outcome::retry;
  std::optional<DeadReason> reason;       // dead_lettered
  std::chrono::milliseconds delay{0};     // retry: wait before the next attempt
  std::optional<int64_t> version;         // applied: new version; else stored version when known
  std::optional<std::string> state;
  std::optional<PriorOutcome> first;      // duplicate: the event_id's first outcome, when known
};

// The idempotency key of a message: its event_id, or for input without a usable
// event_id a stable id derived from where it was read.
std::string idempotency_key(const Work& w);

class Engine {
 public:
  // `metrics` may be null (tests).
  Engine(const Config& cfg, Metrics* metrics, uint64_t seed = std::random_device{}());

  // One pass over the batch: duplicates, reads, decisions, one commit. Events whose
  // CAS was lost come back as `retry` with their backoff (attempts counted on the
  // Work). Throws TransientStoreError: nothing was written, retry the whole batch.
  std::vector<ItemResult> process(OutcomeStore& store, std::vector<WorkPtr>& batch);

 private:
  // One pass: per event its key, whether it still needs an outcome, its result
  // so far, and the writes decided for the pass's one commit (engine.cpp).
  struct PassState;

  std::vector<ItemResult> process_once(OutcomeStore& store, std::vector<WorkPtr>& batch);
  // The steps of process_once, in their order.
  static void find_duplicates(OutcomeStore& store, PassState& pass);
  void decide_without_read(const std::vector<WorkPtr>& batch, PassState& pass) const;
  void decide_against_row(Work& w, std::size_t i, const Snapshot& s, PassState& pass) const;
  void record_commit(std::vector<WorkPtr>& batch, const CommitResult& res, PassState& pass);
  static void fill_first_outcomes(OutcomeStore& store, const std::vector<WorkPtr>& batch, std::vector<ItemResult>& out);

  const Config& cfg_;
  Metrics* metrics_;
  Backoff backoff_;
  std::mt19937_64 rng_;
};

}  // namespace lockstep
