#include "consume/consume_loop.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace lockstep::runtime {

namespace {

// Both sorted.
bool same_partitions(const std::vector<TopicPartition>& a, const std::vector<TopicPartition>& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

}  // namespace

void ConsumeLoop::on_error(const KafkaFailure& err) {
  metrics_.infra_error("kafka");
  spdlog::warn("kafka: {}", err.str());
  if (err.fatal) {
    fatal_what_ = err.str();
    fatal_ = true;
  }
}

void ConsumeLoop::run(const std::atomic<bool>& stop) {
  auto last_gauges = Clock::now();
  while (!stop && !fatal_) {
    apply_backpressure();
    // Drain what librdkafka has buffered, even while paused (bounded by its queue).
    for (int i = 0; i < 1000; ++i) {
      auto m = consumer_.poll(i == 0 ? milliseconds(50) : milliseconds(0));
      if (!m) break;
      handle(std::move(*m));
    }
    poll_producer_(milliseconds(0));
    const auto now = Clock::now();
    if (now - last_gauges >= milliseconds(1000)) {
      if (every_second_) every_second_();
      last_gauges = now;
    }
  }
}

void ConsumeLoop::apply_backpressure() {
  FetchSignals s;
  s.inflight = sched_.size();
  s.max_inflight = static_cast<std::size_t>(cfg_.limits.max_inflight);
  s.db_ok = readiness_.db_ok;
  s.db_stalled = readiness_.db_stalled;
  s.relay_ok = readiness_.relay_ok;
  s.outcome_ok = readiness_.outcome_ok;
  s.publish_stalled = readiness_.publish_stalled;
  const auto v = fetch_verdict(s, paused_, pause_reason_);
  auto assignment = consumer_.assignment();
  std::sort(assignment.begin(), assignment.end());
  if (!same_partitions(assignment, assigned_seen_)) {
    // librdkafka keeps its pause flag on a partition across unassign and a
    // later assign, so a partition given back after a rebalance can still be
    // paused from before: set every assigned partition to the state wanted now.
    assigned_seen_ = assignment;
    if (paused_)
      consumer_.pause(assignment);
    else
      consumer_.resume(assignment);
    publish_pause_state(assignment, paused_ ? pause_reason_ : "");
  }
  if (!paused_ && v.want_pause) {
    consumer_.pause(assignment);
    paused_ = true;
    pause_reason_ = v.reason;
    publish_pause_state(assignment, pause_reason_);
    spdlog::info("fetching paused: {} ({} events in flight)", v.reason, s.inflight);
  } else if (paused_ && v.want_resume) {
    consumer_.resume(assignment);
    paused_ = false;
    pause_reason_.clear();
    publish_pause_state(assignment, "");
    spdlog::info("fetching resumed");
  } else if (paused_ && v.reason != pause_reason_) {
    pause_reason_ = v.reason;
    publish_pause_state(assignment, pause_reason_);
  }
}

void ConsumeLoop::handle(Message&& m) {
  metrics_.consumed(m.topic);
  auto w = std::make_unique<Work>();
  w->src.topic = m.topic;
  w->src.source = cfg_.source_of(m.topic);
  w->src.partition = m.partition;
  w->src.offset = m.offset;
  w->src.timestamp_ms = m.timestamp_ms;
  w->kafka_key = std::move(m.key);
  w->value = std::move(m.value);
  w->headers = std::move(m.headers);
  w->consumed_at = Clock::now();
  ParseLimits limits;
  limits.max_event_bytes = cfg_.limits.max_event_bytes;
  limits.max_depth = cfg_.limits.max_depth;
  w->parsed = parser_.parse(w->value, w->kafka_key, limits);
  w->lane_key = lane_key_for(w->parsed, w->src);
  if (const auto* bad = std::get_if<Malformed>(&w->parsed))
    spdlog::info("{}@{}: malformed event: {}", tp_name(m.topic, m.partition), m.offset, bad->detail);
  const auto generation = book_.track(m.topic, m.partition, m.offset);
  if (!generation) return;  // not ours (any more)
  w->generation = *generation;
  sched_.push(std::move(w));
}

void ConsumeLoop::pause_all(const std::string& reason) {
  const auto assignment = consumer_.assignment();
  consumer_.pause(assignment);
  publish_pause_state(assignment, reason);
}

void ConsumeLoop::publish_pause_state(const std::vector<TopicPartition>& assignment, const std::string& reason) {
  fetching_paused_ = !reason.empty();
  for (const auto& tp : assignment) {
    metrics_.set_paused(tp.topic, tp.partition, reason);
    board_.set_paused(tp.topic, tp.partition, reason);
  }
}

}  // namespace lockstep::runtime
