// The database connections of the threads that talk to the database
// (executors, relay), one slot each, and the watchdog that cuts a call waiting
// on a database that stopped answering (a hang sends no error).
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>

#include "lockstep/store.hpp"
#include "runtime/readiness.hpp"
#include "runtime/runtime_support.hpp"

namespace lockstep::runtime {

struct DbSlot {
  std::mutex mu;  // store (the watchdog interrupts it while its owner may reset it)
  std::unique_ptr<Store> store;
  std::atomic<int64_t> busy_since_ms{0};  // steady clock, 0 when idle
};

// Marks the slot busy for the duration of one database call.
class BusyScope {
 public:
  explicit BusyScope(DbSlot& s) : slot_(s) { slot_.busy_since_ms = now_ms(); }
  ~BusyScope() { slot_.busy_since_ms = 0; }
  BusyScope(const BusyScope&) = delete;
  BusyScope& operator=(const BusyScope&) = delete;

 private:
  DbSlot& slot_;
};

class DbSlots {
 public:
  // `count` slots on database `url`; a call may wait `timeout_ms` (database.timeout_ms).
  DbSlots(std::string url, int timeout_ms, std::size_t count, Readiness& readiness);

  DbSlot& at(std::size_t i) { return slots_.at(i); }
  // The slot's store, connected on first use.
  Store& store(DbSlot& slot);
  // Drops the slot's connection (after an error): the next call connects again.
  void reset(DbSlot& slot);

  // Cuts every call that has waited longer than database.timeout_ms (the server's
  // statement_timeout answers first while the server still runs; this is for a
  // frozen server or a path that drops packets), and reports a stall as soon as
  // a call has waited half of it. With `all`, cuts every call at once (shutdown).
  void watchdog_pass(bool all);
  // watchdog_pass every 250 ms until the worker stops.
  void watchdog_loop();
  void kick() { waker_.kick(); }

 private:
  std::string url_;
  int timeout_ms_;
  Readiness& readiness_;
  std::deque<DbSlot> slots_;  // stable addresses; sized before the threads start
  Waker waker_;
};

}  // namespace lockstep::runtime
