// The dead-letter relay thread: drains the dead_letters outbox to the
// dead-letter topic (DeadLetterRelay, one pass at a time) on its own database
// slot, backs off while the database or the broker fails, and tells readiness
// whether the broker takes what it publishes.
#pragma once

#include <atomic>
#include <cstdint>
#include <random>

#include "apply/db_slots.hpp"
#include "apply/backoff.hpp"
#include "lockstep/config.hpp"
#include "outcome/messages.hpp"
#include "lockstep/kafka.hpp"
#include "lockstep/metrics.hpp"
#include "runtime/readiness.hpp"
#include "runtime/runtime_support.hpp"

namespace lockstep::runtime {

// The Producer's message.timeout.ms unless kafka.properties sets it: how long
// it keeps trying to deliver a message.
inline constexpr int kProducerMessageTimeoutMs = 30000;

class DeadLetterRelayLoop {
 public:
  DeadLetterRelayLoop(const Config& cfg, Metrics& metrics, Producer& producer, DbSlots& slots, DbSlot& slot,
                      Readiness& readiness)
      : cfg_(cfg), metrics_(metrics), producer_(producer), slots_(slots), slot_(slot), readiness_(readiness) {}

  // Relays until the worker stops.
  void run();
  // New rows to publish: start the next pass now.
  void kick() { waker_.kick(); }
  // Since when (steady ms) the relay waits for the broker's acknowledgement; 0 when it does not.
  int64_t publishing_since_ms() const { return publishing_since_ms_.load(); }

 private:
  // The largest dead-letter message the cluster takes.
  std::size_t dead_letter_limit();
  // The database slot is connected and its schema is recent enough. Throws TransientStoreError.
  void check_schema();
  // One pass; returns whether more rows may be due at once. Throws.
  bool pass(DeadLetterRelay& relay);
  void back_off() { waker_.wait_for(infra_.delay(++failures_, rng_)); }

  const Config& cfg_;
  Metrics& metrics_;
  Producer& producer_;
  DbSlots& slots_;
  DbSlot& slot_;
  Readiness& readiness_;
  Waker waker_;
  std::atomic<int64_t> publishing_since_ms_{0};  // steady clock; 0 when the relay is not publishing
  Backoff infra_{milliseconds(100), milliseconds(5000)};
  std::mt19937_64 rng_{std::random_device{}()};
  int failures_ = 0;
  bool warned_schema_ = false;
  Clock::time_point limit_read_at_ = Clock::now();
};

}  // namespace lockstep::runtime
