// The worker (`lockstep run`): consumer thread, executor pool, dead-letter relay.
#pragma once

#include <atomic>
#include <memory>

#include "lockstep/config.hpp"
#include "lockstep/metrics.hpp"
#include "runtime/status.hpp"

namespace lockstep {

class Worker {
 public:
  Worker(Config cfg, std::shared_ptr<Metrics> metrics);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Consumes until `stop` becomes true, then shuts down gracefully within
  // shutdown.timeout_ms: stops fetching, finishes or abandons in-flight events,
  // commits what is complete. Throws KafkaError on a fatal consumer error.
  void run(const std::atomic<bool>& stop);

  // Database answered last time it was asked, and the consumer has joined its group.
  bool ready() const;

  // Partitions held, lag, pauses, in-flight events and readiness, now. Any thread.
  WorkerStatus status() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lockstep
