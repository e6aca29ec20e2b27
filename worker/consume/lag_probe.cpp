#include "consume/lag_probe.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace lockstep::runtime {

// A watermark query shares the leader's connection with fetches, and a
// broker answers a connection's requests in order: a fetch waiting for data
// (up to fetch.wait.max.ms) delays the answer.
milliseconds LagProbe::watermark_timeout() const {
  return milliseconds(2 * int_property(kafka_.properties, "fetch.wait.max.ms", 500) + 3000);
}

void LagProbe::loop() {
  while (!leaving()) {
    pass();
    report_silence();
    waker_.wait_for(milliseconds(broker_stalled_ ? 1000 : 2000));
  }
}

void LagProbe::read_starts(const Rows& rows) {
  std::vector<TopicPartition> unknown;
  for (const auto& r : rows) {
    const auto it = start_of_.find(r.tp);
    if (!r.pos && (it == start_of_.end() || it->second.first != r.generation)) unknown.push_back(r.tp);
  }
  if (unknown.empty()) return;
  try {
    for (const auto& c : consumer_.committed(unknown, milliseconds(2000)))
      for (const auto& r : rows)
        if (r.tp == c) start_of_[c] = {r.generation, c.offset};
  } catch (const KafkaError& e) {
    spdlog::debug("lag: committed offsets not available: {}", e.what());
  }
}

void LagProbe::pass() {
  const auto rows = book_.rows();
  read_starts(rows);
  const bool paused_now = fetching_paused_.load();
  ++probe_;
  bool answered = false, failed = false;  // after one unanswered query, ask nothing more this pass
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (leaving()) break;
    probe_row(rows[i], paused_now || i == probe_ % rows.size(), answered, failed);
  }
  for (auto it = start_of_.begin(); it != start_of_.end();) {
    const bool assigned = std::any_of(rows.begin(), rows.end(), [&](const auto& r) { return r.tp == it->first; });
    it = assigned ? std::next(it) : start_of_.erase(it);
  }
  // With nothing to ask (no assignment, all fetched), partition 0 of an
  // input topic is asked in turn: the broker must answer something.
  if (!answered && !failed && !leaving() && !kafka_.topics.empty()) {
    const auto& topic = kafka_.topics[probe_ % kafka_.topics.size()].topic;
    if (consumer_.query_high_watermark(topic, 0, watermark_timeout())) readiness_.heard_from_broker();
  }
}

void LagProbe::probe_row(const OffsetBook::Row& r, bool ask_high, bool& answered, bool& failed) {
  std::optional<int64_t> hw, lo;
  if (!ask_high) hw = consumer_.high_watermark(r.tp.topic, r.tp.partition);
  const auto start_it = start_of_.find(r.tp);
  const bool need_low = !r.pos && (start_it == start_of_.end() || start_it->second.second < 0);
  if ((!hw || need_low) && !failed) {
    // The low watermark only where nothing else says where reading starts:
    // each question may wait behind a fetch on the leader's connection.
    bool got = false;
    if (need_low) {
      if (auto wm = consumer_.query_watermarks(r.tp.topic, r.tp.partition, watermark_timeout())) {
        lo = wm->first;
        hw = wm->second;
        got = true;
      }
    } else if (auto high = consumer_.query_high_watermark(r.tp.topic, r.tp.partition, watermark_timeout())) {
      hw = *high;
      got = true;
    }
    if (got) {
      answered = true;
      readiness_.heard_from_broker();
    } else {
      failed = true;
    }
  }
  if (!hw) return;
  int64_t start = -1;
  if (r.pos) {
    start = *r.pos;
  } else if (auto it = start_of_.find(r.tp); it != start_of_.end() && it->second.second >= 0) {
    start = it->second.second;
  } else if (lo) {
    start = *lo;
  } else {
    return;
  }
  // The partition may have been revoked meanwhile (its series removed).
  const int64_t lag = std::max<int64_t>(0, *hw - start);
  book_.if_current(r.tp, r.generation, [&] {
    metrics_.set_lag(r.tp.topic, r.tp.partition, static_cast<double>(lag));
    board_.set_lag(r.tp.topic, r.tp.partition, lag);
  });
}

void LagProbe::report_silence() {
  const bool stalled = readiness_.broker_silent();
  if (stalled && !broker_stalled_) {
    metrics_.infra_error("kafka");
    spdlog::error("the broker has not answered for {} ms: reporting not ready", kBrokerStallMs);
  } else if (!stalled && broker_stalled_) {
    spdlog::info("the broker answers again");
  }
  broker_stalled_ = stalled;
}

}  // namespace lockstep::runtime
