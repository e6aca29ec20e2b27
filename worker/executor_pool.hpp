// The executors: database.pool_size threads (one in naive mode), each taking
// batches of distinct keys from the KeyScheduler and running them through the
// Engine on its own database connection (a DbSlot, watched by the watchdog).
#pragma once

#include <functional>
#include <vector>

#include "outcome/completion.hpp"
#include "apply/db_slots.hpp"
#include "lockstep/config.hpp"
#include "apply/engine.hpp"
#include "lockstep/metrics.hpp"
#include "schedule/scheduler.hpp"
#include "outcome/outcome_publisher.hpp"
#include "runtime/readiness.hpp"

namespace lockstep::runtime {

class ExecutorPool {
 public:
  // How many executor threads a configuration runs.
  static int size(const Config& cfg) { return cfg.naive ? 1 : cfg.database.pool_size; }

  // `dead_lettered` runs after a batch that dead-lettered an event (the relay has rows to publish).
  ExecutorPool(const Config& cfg, Metrics& metrics, KeyScheduler& sched, Completion& completion,
               OutcomePublisher& publisher, DbSlots& slots, Readiness& readiness, std::function<void()> dead_lettered)
      : cfg_(cfg), metrics_(metrics), sched_(sched), completion_(completion), publisher_(publisher), slots_(slots),
        readiness_(readiness), dead_lettered_(std::move(dead_lettered)) {}

  // The body of executor `index` (database slot `index`): runs until the worker stops.
  void run(int index);

 private:
  // A database fault, or a bug: the connection goes, the database counts as down.
  void failed(DbSlot& slot);
  // Passes every event of the batch on according to its result.
  void finish(std::vector<WorkPtr>& batch, const std::vector<ItemResult>& results);

  const Config& cfg_;
  Metrics& metrics_;
  KeyScheduler& sched_;
  Completion& completion_;
  OutcomePublisher& publisher_;
  DbSlots& slots_;
  Readiness& readiness_;
  std::function<void()> dead_lettered_;
};

}  // namespace lockstep::runtime
