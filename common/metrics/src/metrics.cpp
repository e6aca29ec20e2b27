// Metrics (docs/metrics.md): every Prometheus family, pre-created label sets, text exposition.
#include "lockstep/metrics.hpp"

#include <map>

#include <prometheus/metric_family.h>
#include <prometheus/metric_type.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <array>
#include <string>
#include <vector>

namespace lockstep {
namespace {

struct FamilySpec {
  const char* name;
  const char* help;
  prometheus::MetricType type;
};

// Every family of docs/metrics.md (and lockstep_ready), in exposition order.
constexpr FamilySpec kConsumed{"lockstep_events_consumed_total", "Events read from the input topics, by topic.",
                               prometheus::MetricType::Counter};
constexpr FamilySpec kEvents{"lockstep_events_total",
                             "Events that reached a durable outcome (applied, duplicate, dead_lettered); "
                             "reason is the dead-letter reason, empty otherwise.",
                             prometheus::MetricType::Counter};
constexpr FamilySpec kConflicts{"lockstep_cas_conflicts_total",
                                "Compare-and-swap conflicts on the aggregate version, by aggregate type.",
                                prometheus::MetricType::Counter};
constexpr FamilySpec kRetries{"lockstep_cas_retries_total", "Retries of a transition after a compare-and-swap conflict.",
                              prometheus::MetricType::Counter};
constexpr FamilySpec kDeadLetters{"lockstep_dead_letters_total",
                                  "Messages published to the dead-letter topic, by reason.",
                                  prometheus::MetricType::Counter};
constexpr FamilySpec kDuration{"lockstep_event_duration_seconds",
                               "Time from consuming an event to its durable outcome, in seconds.",
                               prometheus::MetricType::Histogram};
constexpr FamilySpec kInflight{"lockstep_inflight_events", "Events consumed that have no durable outcome yet.",
                               prometheus::MetricType::Gauge};
constexpr FamilySpec kOldestInflight{"lockstep_oldest_inflight_seconds",
                                     "Age in seconds of the oldest event without an outcome (0 when none).",
                                     prometheus::MetricType::Gauge};
constexpr FamilySpec kLag{"lockstep_consumer_lag", "Consumer lag in messages, by topic and partition.",
                          prometheus::MetricType::Gauge};
constexpr FamilySpec kPaused{"lockstep_partition_paused",
                             "1 for each assigned partition whose fetching is paused, by reason: backpressure "
                             "(limits.max_inflight reached), database (not answering), broker (dead letters or "
                             "outcomes not published), shutdown. No series while a partition is fetched.",
                             prometheus::MetricType::Gauge};
constexpr FamilySpec kReady{"lockstep_ready",
                            "1 when /readyz answers 200 (database answers, consumer holds an assignment), else 0.",
                            prometheus::MetricType::Gauge};
constexpr FamilySpec kInfra{"lockstep_infrastructure_errors_total",
                            "Errors talking to infrastructure, by component (database, kafka).",
                            prometheus::MetricType::Counter};

constexpr std::array<const FamilySpec*, 12> kFamilies = {&kConsumed,   &kEvents,   &kConflicts, &kRetries,
                                                         &kDeadLetters, &kDuration, &kInflight,  &kOldestInflight,
                                                         &kLag,        &kPaused,   &kReady,     &kInfra};

constexpr std::array<const char*, 4> kPauseReasons = {"backpressure", "database", "broker", "shutdown"};

constexpr std::array<const char*, 5> kDeadLetterReasons = {
    "malformed", "unknown_transition", "version_conflict", "invalid_transition", "retries_exhausted"};

constexpr std::array<const char*, 2> kInfraComponents = {"database", "kafka"};

// 0.5 ms .. 30 s: consumed -> durable outcome.
prometheus::Histogram::BucketBoundaries duration_buckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
}

template <typename Builder>
auto& build(Builder builder, const FamilySpec& spec, prometheus::Registry& registry) {
  return builder.Name(spec.name).Help(spec.help).Register(registry);
}

}  // namespace

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      consumed_(build(prometheus::BuildCounter(), kConsumed, *registry_)),
      events_(build(prometheus::BuildCounter(), kEvents, *registry_)),
      conflicts_(build(prometheus::BuildCounter(), kConflicts, *registry_)),
      retries_(build(prometheus::BuildCounter(), kRetries, *registry_).Add({})),
      dead_letters_(build(prometheus::BuildCounter(), kDeadLetters, *registry_)),
      duration_(build(prometheus::BuildHistogram(), kDuration, *registry_).Add({}, duration_buckets())),
      inflight_(build(prometheus::BuildGauge(), kInflight, *registry_).Add({})),
      oldest_inflight_(build(prometheus::BuildGauge(), kOldestInflight, *registry_).Add({})),
      lag_(build(prometheus::BuildGauge(), kLag, *registry_)),
      paused_(build(prometheus::BuildGauge(), kPaused, *registry_)),
      ready_(build(prometheus::BuildGauge(), kReady, *registry_).Add({})),
      infra_(build(prometheus::BuildCounter(), kInfra, *registry_)) {
  // Pre-create the series dashboards expect so they read 0 from the start.
  events_.Add({{"outcome", "applied"}, {"reason", ""}});
  events_.Add({{"outcome", "duplicate"}, {"reason", ""}});
  for (const char* reason : kDeadLetterReasons) {
    events_.Add({{"outcome", "dead_lettered"}, {"reason", reason}});
    dead_letters_.Add({{"reason", reason}});
  }
  for (const char* component : kInfraComponents) infra_.Add({{"component", component}});
}

prometheus::Counter& Metrics::series(prometheus::Family<prometheus::Counter>& family, SeriesCache& cache,
                                     const char* first_label, const std::string& first, const char* second_label,
                                     const std::string& second) {
  std::lock_guard lk(cache.mu);
  for (const auto& e : cache.entries)
    if (e.first == first && e.second == second) return *e.series;
  prometheus::Labels labels{{first_label, first}};
  if (second_label) labels.emplace(second_label, second);
  auto& added = family.Add(labels);
  cache.entries.push_back({first, second, &added});
  return added;
}

void Metrics::consumed(const std::string& topic) { series(consumed_, consumed_series_, "topic", topic).Increment(); }

void Metrics::outcome(const std::string& outcome, const std::string& reason) {
  series(events_, events_series_, "outcome", outcome, "reason", reason).Increment();
}

void Metrics::cas_conflict(const std::string& aggregate_type) {
  conflicts_.Add({{"aggregate_type", aggregate_type}}).Increment();
}

void Metrics::cas_retry() { retries_.Increment(); }

void Metrics::dead_letter(const std::string& reason) { dead_letters_.Add({{"reason", reason}}).Increment(); }

void Metrics::event_duration(double seconds) { duration_.Observe(seconds); }

void Metrics::set_inflight(double n) { inflight_.Set(n); }

void Metrics::set_oldest_inflight(double seconds) { oldest_inflight_.Set(seconds); }

void Metrics::set_lag(const std::string& topic, int partition, double lag) {
  lag_.Add({{"topic", topic}, {"partition", std::to_string(partition)}}).Set(lag);
}

void Metrics::remove_lag(const std::string& topic, int partition) {
  const std::map<std::string, std::string> labels = {{"topic", topic}, {"partition", std::to_string(partition)}};
  if (lag_.Has(labels)) lag_.Remove(&lag_.Add(labels));
}

void Metrics::set_paused(const std::string& topic, int partition, const std::string& reason) {
  const std::string p = std::to_string(partition);
  for (const char* r : kPauseReasons) {
    const std::map<std::string, std::string> labels = {{"topic", topic}, {"partition", p}, {"reason", r}};
    if (reason == r)
      paused_.Add(labels).Set(1);
    else if (paused_.Has(labels))
      paused_.Remove(&paused_.Add(labels));
  }
}

void Metrics::set_ready(bool ready) { ready_.Set(ready ? 1 : 0); }

void Metrics::infra_error(const std::string& component) { infra_.Add({{"component", component}}).Increment(); }

std::string Metrics::serialize() const {
  auto collected = registry_->Collect();
  // prometheus-cpp drops a family that has no series yet (e.g. consumer_lag before the
  // first assignment); keep its HELP/TYPE so every family of the contract is always listed.
  std::vector<prometheus::MetricFamily> families;
  families.reserve(collected.size() + kFamilies.size());
  for (const FamilySpec* spec : kFamilies) {
    auto it = std::find_if(collected.begin(), collected.end(),
                           [spec](const prometheus::MetricFamily& f) { return f.name == spec->name; });
    if (it != collected.end()) {
      families.push_back(std::move(*it));
      collected.erase(it);
    } else {
      prometheus::MetricFamily empty;
      empty.name = spec->name;
      empty.help = spec->help;
      empty.type = spec->type;
      families.push_back(std::move(empty));
    }
  }
  // Anything else registered through registry() follows, in registry order.
  for (auto& family : collected) families.push_back(std::move(family));

  const prometheus::TextSerializer serializer;
  return serializer.Serialize(families);
}

}  // namespace lockstep
