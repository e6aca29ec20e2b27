#include "outcome/outcome_publisher.hpp"

#include <spdlog/spdlog.h>

#include <thread>

namespace lockstep::runtime {

void OutcomePublisher::publish(WorkPtr w, const ItemResult& r) {
  const auto m = outcome_message(*w, r, topic_);
  Work* raw = w.release();
  uint64_t seq = 0;
  {
    std::lock_guard lk(mu_);
    seq = next_seq_++;
    pending_.emplace(seq, Clock::now());
  }
  producer_->send_async(m, [this, raw, seq](const Delivery& d) { delivered(WorkPtr(raw), seq, d); });
}

void OutcomePublisher::delivered(WorkPtr w, uint64_t seq, const Delivery& d) {
  {
    std::lock_guard lk(mu_);
    pending_.erase(seq);
  }
  if (!d.error) {
    outcome_ok_ = true;
    completion_.complete(std::move(w));
    return;
  }
  outcome_ok_ = false;
  metrics_.infra_error("kafka");
  spdlog::error("{}@{}: outcome of event {} not published, the event goes again: {}",
                tp_name(w->src.topic, w->src.partition), w->src.offset, idempotency_key(*w), d.error.str());
  completion_.retry_or_release(std::move(w), milliseconds(1000));
}

void OutcomePublisher::poll(milliseconds timeout) {
  if (enabled())
    producer_->poll(timeout);
  else if (timeout.count() > 0)
    std::this_thread::sleep_for(timeout);
}

std::optional<Clock::time_point> OutcomePublisher::oldest_pending() const {
  std::lock_guard lk(mu_);
  if (pending_.empty()) return std::nullopt;
  return pending_.begin()->second;
}

}  // namespace lockstep::runtime
