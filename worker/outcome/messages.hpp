// What the worker publishes: the outcome message of each event's result and,
// through the transactional outbox, the dead-letter rows. Both formats are
// lockstep_wire's.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>

#include "apply/engine.hpp"
#include "lockstep/kafka.hpp"
#include "lockstep/metrics.hpp"
#include "lockstep/store/outbox.hpp"
#include "lockstep/wire.hpp"
#include "schedule/work.hpp"

namespace lockstep {

// The message formats live in lockstep_wire; the worker uses these by their old names.
using wire::dead_letter_message;
using wire::kDefaultMaxMessageBytes;
using wire::max_message_bytes;

// Transactional outbox relay: publishes unpublished dead_letters rows to the
// dead-letter topic and marks each delivered one, so a crash between the
// database commit and the publish loses nothing (a row may be published twice,
// never zero times). A row the broker refuses is deferred with a backoff of its
// own and never holds back the rows behind it.
class DeadLetterRelay {
 public:
  DeadLetterRelay(Producer& producer, std::string topic, Metrics* metrics,
                  std::size_t max_bytes = kDefaultMaxMessageBytes,
                  std::chrono::milliseconds send_timeout = std::chrono::milliseconds(15000))
      : producer_(producer), topic_(std::move(topic)), metrics_(metrics), max_bytes_(max_bytes),
        send_timeout_(send_timeout) {}
  // What the store did with the pass's rows, and the last publish error seen.
  struct Pass : Outbox::RelayResult {
    KafkaFailure last_error;
  };
  // One pass over up to `limit` due rows. Throws TransientStoreError. `abort`
  // cuts the wait for delivery reports short (shutdown); `publishing` is told
  // when the wait for the broker begins (true) and ends (false).
  Pass run_once(Outbox& outbox, std::size_t limit = 100, const std::atomic<bool>* abort = nullptr,
                const std::function<void(bool)>& publishing = {});
  // The largest message the next passes build (see dead_letter_message).
  void set_max_bytes(std::size_t max_bytes) { max_bytes_ = max_bytes; }

 private:
  Producer& producer_;
  std::string topic_;
  Metrics* metrics_;
  std::size_t max_bytes_;
  std::chrono::milliseconds send_timeout_;
};

// The outcome topic message of an event's result (wire::outcome_message). A
// duplicate's message says "duplicate" and carries the first outcome under
// "first" (so a producer that re-sends, or a restart after a crash, still learns
// what became of the event).
OutMessage outcome_message(const Work& w, const ItemResult& r, const std::string& topic);

}  // namespace lockstep
