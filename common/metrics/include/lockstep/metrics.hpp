// Metrics (docs/metrics.md): the Prometheus families and the HTTP endpoint.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "lockstep/http_server.hpp"  // parse_listen

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace lockstep {

// Owns one registry with every family of the contract. Thread-safe (prometheus-cpp
// metrics are atomic; label lookups go through the family's own lock).
class Metrics {
 public:
  Metrics();

  void consumed(const std::string& topic);
  void outcome(const std::string& outcome, const std::string& reason);  // reason "" unless dead_lettered
  void cas_conflict(const std::string& aggregate_type);
  void cas_retry();
  void dead_letter(const std::string& reason);
  void event_duration(double seconds);
  void set_inflight(double n);
  void set_oldest_inflight(double seconds);
  void set_lag(const std::string& topic, int partition, double lag);
  void remove_lag(const std::string& topic, int partition);  // the partition went to another worker
  // Why fetching of an assigned partition is paused ("backpressure", "database",
  // "broker", "shutdown"), or "" when it is fetched or no longer assigned.
  void set_paused(const std::string& topic, int partition, const std::string& reason);
  void set_ready(bool ready);
  void infra_error(const std::string& component);  // "database" | "kafka"

  // Prometheus text exposition format of everything registered.
  std::string serialize() const;
  prometheus::Registry& registry() { return *registry_; }

 private:
  // A counter family's series by their label values, found without building a
  // label map for every event (Family::Add does: a tenth of the worker's
  // instructions per event went there). Series of these families are never
  // removed, so the pointers stay valid; the families hold a handful each.
  struct SeriesCache {
    struct Entry {
      std::string first, second;
      prometheus::Counter* series;
    };
    std::mutex mu;
    std::vector<Entry> entries;
  };
  static prometheus::Counter& series(prometheus::Family<prometheus::Counter>& family, SeriesCache& cache,
                                     const char* first_label, const std::string& first,
                                     const char* second_label = nullptr, const std::string& second = {});

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& consumed_;
  prometheus::Family<prometheus::Counter>& events_;
  prometheus::Family<prometheus::Counter>& conflicts_;
  prometheus::Counter& retries_;
  prometheus::Family<prometheus::Counter>& dead_letters_;
  prometheus::Histogram& duration_;
  prometheus::Gauge& inflight_;
  prometheus::Gauge& oldest_inflight_;
  prometheus::Family<prometheus::Gauge>& lag_;
  prometheus::Family<prometheus::Gauge>& paused_;
  prometheus::Gauge& ready_;
  prometheus::Family<prometheus::Counter>& infra_;
  SeriesCache consumed_series_, events_series_;
};

// Limits of MetricsServer. The listener shares the process's file descriptors with libpq and
// librdkafka, so it holds few sockets and drops idle ones quickly.
struct MetricsServerLimits {
  // Connections served at once. One arriving at the cap is accepted and closed at once
  // (counted by MetricsServer::rejected_connections()), so neither descriptors nor the
  // kernel's accept backlog grow; accepting resumes as soon as a connection ends.
  std::size_t max_connections = 64;
  // Time a connection gets to deliver one complete request (headers and body), counted from
  // its accept or from the end of its previous response: bounds idle keep-alive connections
  // and slow senders (a header byte by byte) alike.
  std::chrono::milliseconds request_timeout{std::chrono::seconds(10)};
  // Time to send one response.
  std::chrono::milliseconds write_timeout{std::chrono::seconds(10)};
};

// HTTP server (Boost.Beast) on its own thread serving /metrics, /healthz, /readyz.
// /readyz answers 200 only when `ready()` returns true, 503 otherwise.
class MetricsServer {
 public:
  // `listen` is "host:port" ("0.0.0.0:9464", "127.0.0.1:0" for an ephemeral port).
  // Throws std::runtime_error when the address is bad or cannot be bound, or when a limit
  // is zero.
  MetricsServer(const std::string& listen, const Metrics& metrics, std::function<bool()> ready,
                MetricsServerLimits limits = {});
  ~MetricsServer();  // stops and joins
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  unsigned short port() const;  // the bound port
  std::size_t open_connections() const;         // connections being served now (<= max_connections)
  std::uint64_t rejected_connections() const;   // closed on arrival because of the cap, since start

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lockstep
