// Shared set-up of the worker parts' tests: events as the consume loop makes
// them, a worker configuration on a test broker, one metric series, and the
// fixture of the parts that talk to Kafka.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <sstream>
#include <string>

#include "lockstep/config.hpp"
#include "lockstep/metrics.hpp"
#include "schedule/scheduler.hpp"
#include "lockstep/test/events.hpp"
#include "lockstep/test/kafka.hpp"
#include "lockstep/test/support.hpp"
#include "schedule/work.hpp"
#include "commit/offset_book.hpp"
#include "runtime/readiness.hpp"
#include "runtime/status.hpp"

namespace lockstep::test {

// A consumed event of partition `p` at `offset`, of the assignment `generation`.
inline WorkPtr work_at(const std::string& topic, int32_t p, int64_t offset, uint64_t generation,
                       const std::string& agg = "") {
  auto w = std::make_unique<Work>();
  w->src.topic = topic;
  w->src.source = "bot";
  w->src.partition = p;
  w->src.offset = offset;
  const auto e = event("e-" + topic + "-" + std::to_string(p) + "-" + std::to_string(offset),
                       agg.empty() ? std::to_string(offset) : agg, "join")
                     .actor("t");
  w->kafka_key = e.key();
  w->value = e.json();
  w->parsed = parse_event(w->value, w->kafka_key);
  w->lane_key = lane_key_for(w->parsed, w->src);
  w->consumed_at = std::chrono::steady_clock::now();
  w->generation = generation;
  return w;
}

// The shipped configuration on broker `bootstrap` with input topic `bot`.
inline Config parts_config(const std::string& bootstrap, const std::string& bot, const std::string& dlq) {
  auto cfg = parse_config(builtin_config_text(), "<built-in>");
  cfg.kafka.brokers = bootstrap;
  cfg.kafka.topics = {{bot, "bot"}};
  cfg.kafka.dead_letter_topic = dlq;
  cfg.kafka.group_id = "parts-" + unique_suffix();
  cfg.retry.base_delay_ms = 1;
  cfg.retry.max_delay_ms = 20;
  cfg.shutdown_timeout_ms = 5000;
  return cfg;
}

// What a part on the development broker (or the real node) starts from: the
// shipped configuration on it, metrics, a scheduler, an offset book, readiness,
// a status board and a stop flag. A test adds the part and what it talks to.
class PartsTest : public ::testing::Test {
 protected:
  TestKafka kafka;
  Config cfg = parts_config(kafka.bootstrap(), kafka.bot(), kafka.dlq());
  Metrics metrics;
  KeyScheduler sched;
  runtime::OffsetBook book;
  runtime::Readiness readiness;
  runtime::StatusBoard board;
  std::atomic<bool> stop{false};
};

// The value of `family{...}` whose labels include topic and partition (and
// `extra`, e.g. reason="backpressure"), or -1 when there is none.
inline double series(const Metrics& m, const std::string& family, const std::string& topic, int32_t p,
                     const std::string& extra = "") {
  std::istringstream in(m.serialize());
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(family + "{", 0) != 0) continue;
    if (line.find("topic=\"" + topic + "\"") == std::string::npos) continue;
    if (line.find("partition=\"" + std::to_string(p) + "\"") == std::string::npos) continue;
    if (!extra.empty() && line.find(extra) == std::string::npos) continue;
    return std::stod(line.substr(line.rfind(' ') + 1));
  }
  return -1;
}

}  // namespace lockstep::test
