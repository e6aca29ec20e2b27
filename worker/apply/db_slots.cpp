#include "apply/db_slots.hpp"

#include <spdlog/spdlog.h>

namespace lockstep::runtime {

DbSlots::DbSlots(std::string url, int timeout_ms, std::size_t count, Readiness& readiness)
    : url_(std::move(url)), timeout_ms_(timeout_ms), readiness_(readiness), slots_(count) {}

Store& DbSlots::store(DbSlot& slot) {
  if (!slot.store) {
    StoreOptions opts;
    opts.statement_timeout = milliseconds(std::max(250, timeout_ms_ - 500));
    auto st = open_store(url_, opts);
    std::lock_guard lk(slot.mu);
    slot.store = std::move(st);
  }
  return *slot.store;
}

void DbSlots::reset(DbSlot& slot) {
  std::lock_guard lk(slot.mu);
  slot.store.reset();
}

void DbSlots::watchdog_pass(bool all) {
  const int64_t now = now_ms();
  const int64_t limit = timeout_ms_;
  bool stalled = false;
  for (auto& slot : slots_) {
    const int64_t since = slot.busy_since_ms.load();
    if (since == 0) continue;
    const int64_t waited = now - since;
    if (waited >= limit / 2) stalled = true;
    if (all || waited >= limit) {
      std::lock_guard lk(slot.mu);
      if (slot.store && slot.busy_since_ms.load() == since) {
        if (!all)
          spdlog::error("database call has not answered for {} ms (database.timeout_ms {}): cutting its connection",
                        waited, limit);
        slot.store->interrupt();
      }
    }
  }
  if (stalled && !readiness_.db_stalled) spdlog::error("database is not answering: reporting not ready");
  readiness_.db_stalled = stalled;
}

void DbSlots::watchdog_loop() {
  while (!readiness_.stopping) {
    watchdog_pass(false);
    waker_.wait_for(milliseconds(250));
  }
}

}  // namespace lockstep::runtime
