#include "executor_pool.hpp"

#include <spdlog/spdlog.h>

#include "apply/backoff.hpp"

namespace lockstep::runtime {

void ExecutorPool::run(int index) {
  DbSlot& slot = slots_.at(static_cast<std::size_t>(index));
  Engine engine(cfg_, &metrics_, std::random_device{}() + static_cast<uint64_t>(index));
  Backoff infra(milliseconds(100), milliseconds(5000));
  std::mt19937_64 rng(std::random_device{}());
  int failures = 0;
  const std::size_t max = cfg_.naive ? 1 : static_cast<std::size_t>(cfg_.batch.max_events);
  const milliseconds linger(cfg_.naive ? 0 : cfg_.batch.max_wait_ms);
  while (!readiness_.stopping) {
    auto batch = sched_.take_batch(max, milliseconds(200), linger);
    if (batch.empty()) continue;
    try {
      std::vector<ItemResult> results;
      {
        BusyScope busy(slot);
        results = engine.process(slots_.store(slot), batch);
      }
      readiness_.db_ok = true;
      failures = 0;
      finish(batch, results);
    } catch (const TransientStoreError& e) {
      const auto d = infra.delay(++failures, rng);
      failed(slot);
      spdlog::error("database fault ({} events kept, retry in {} ms): {}", batch.size(), d.count(), e.what());
      for (auto& w : batch) completion_.retry_or_release(std::move(w), d);
    } catch (const std::exception& e) {
      // A bug, not a fault of the event or the database: keep the events, be loud.
      const auto d = infra.delay(++failures, rng);
      failed(slot);
      spdlog::critical("unexpected error processing a batch of {} (retry in {} ms): {}", batch.size(), d.count(),
                       e.what());
      for (auto& w : batch) sched_.retry_later(std::move(w), d);
    }
  }
}

void ExecutorPool::failed(DbSlot& slot) {
  slots_.reset(slot);
  readiness_.db_ok = false;
  metrics_.infra_error("database");
}

void ExecutorPool::finish(std::vector<WorkPtr>& batch, const std::vector<ItemResult>& results) {
  bool any_dead = false;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    auto& w = batch[i];
    const auto& r = results[i];
    if (r.outcome == Outcome::retry) {
      completion_.retry_or_release(std::move(w), r.delay);
      continue;
    }
    const std::string reason = r.reason ? to_string(*r.reason) : "";
    metrics_.outcome(to_string(r.outcome), reason);
    metrics_.event_duration(std::chrono::duration<double>(Clock::now() - w->consumed_at).count());
    if (r.outcome == Outcome::dead_lettered) {
      any_dead = true;
      metrics_.dead_letter(reason);
      spdlog::info("{}@{}: event {} dead-lettered: {}", tp_name(w->src.topic, w->src.partition), w->src.offset,
                   idempotency_key(*w), reason);
    } else {
      spdlog::debug("{}@{}: event {} {}", tp_name(w->src.topic, w->src.partition), w->src.offset,
                    idempotency_key(*w), to_string(r.outcome));
    }
    if (publisher_.enabled()) {
      publisher_.publish(std::move(w), r);
      continue;
    }
    completion_.complete(std::move(w));
  }
  if (any_dead && dead_lettered_) dead_lettered_();
}

}  // namespace lockstep::runtime
