#include "schedule/scheduler.hpp"

#include <algorithm>

namespace lockstep {

std::size_t KeyScheduler::KeyQueue::remove_if(const std::function<bool(const Work&)>& pred,
                                              const std::function<void(const Work&)>& gone) {
  std::size_t removed = 0, kept = front_;
  for (std::size_t i = front_; i < items_.size(); ++i) {
    if (pred(*items_[i])) {
      gone(*items_[i]);
      ++removed;
    } else {
      items_[kept++] = std::move(items_[i]);
    }
  }
  items_.resize(kept);
  if (empty()) {
    items_.clear();
    front_ = 0;
  }
  return removed;
}

void KeyScheduler::push(WorkPtr w) {
  std::lock_guard lk(mu_);
  w->arrival = first_arrival_ + arrivals_.size();
  arrivals_.push_back({w->consumed_at, false});
  ++size_;
  auto& ks = keys_[w->lane_key];
  const bool was_idle = ks.queue.empty() && !ks.busy;
  if (was_idle) {
    ready_.push_back(w->lane_key);
    cv_.notify_one();
  }
  ks.queue.push(std::move(w));
}

std::size_t KeyScheduler::collect_locked(std::vector<WorkPtr>& out, std::size_t max,
                                         Clock::time_point now) {
  std::size_t added = 0;
  while (out.size() < max && !delayed_.empty() && delayed_.begin()->first <= now) {
    running_.insert(delayed_.begin()->second.get());
    out.push_back(std::move(delayed_.begin()->second));
    delayed_.erase(delayed_.begin());
    ++added;
  }
  while (out.size() < max && !ready_.empty()) {
    std::string key = std::move(ready_.front());
    ready_.pop_front();
    auto it = keys_.find(key);
    if (it == keys_.end() || it->second.busy || it->second.queue.empty()) continue;
    it->second.busy = true;
    running_.insert(it->second.queue.head().get());
    out.push_back(it->second.queue.pop());
    ++added;
  }
  return added;
}

std::vector<WorkPtr> KeyScheduler::take_batch(std::size_t max, std::chrono::milliseconds wait,
                                              std::chrono::milliseconds linger) {
  std::vector<WorkPtr> out;
  if (max == 0) return out;
  std::unique_lock lk(mu_);
  const auto deadline = Clock::now() + wait;
  for (;;) {
    if (closed_) return out;
    auto now = Clock::now();
    collect_locked(out, max, now);
    if (!out.empty()) break;
    if (now >= deadline) return out;
    auto until = deadline;
    if (!delayed_.empty()) until = std::min(until, delayed_.begin()->first);
    cv_.wait_until(lk, until);
  }
  if (out.size() < max && linger.count() > 0) {
    const auto linger_until = Clock::now() + linger;
    while (out.size() < max && !closed_) {
      auto now = Clock::now();
      collect_locked(out, max, now);
      if (out.size() >= max || now >= linger_until) break;
      auto until = linger_until;
      if (!delayed_.empty()) until = std::min(until, delayed_.begin()->first);
      cv_.wait_until(lk, until);
    }
  }
  return out;
}

void KeyScheduler::forget_locked(const Work& w) {
  if (w.arrival >= first_arrival_ && w.arrival - first_arrival_ < arrivals_.size())
    arrivals_[w.arrival - first_arrival_].gone = true;
  while (!arrivals_.empty() && arrivals_.front().gone) {
    arrivals_.pop_front();
    ++first_arrival_;
  }
  --size_;
}

void KeyScheduler::release_key_locked(const std::string& key) {
  auto it = keys_.find(key);
  if (it == keys_.end()) return;
  it->second.busy = false;
  if (it->second.queue.empty()) {
    keys_.erase(it);
  } else {
    ready_.push_back(key);
    cv_.notify_one();
  }
}

void KeyScheduler::done(WorkPtr w) {
  std::lock_guard lk(mu_);
  running_.erase(w.get());
  forget_locked(*w);
  release_key_locked(w->lane_key);
}

void KeyScheduler::retry_later(WorkPtr w, std::chrono::milliseconds delay) {
  std::lock_guard lk(mu_);
  running_.erase(w.get());
  delayed_.emplace(Clock::now() + delay, std::move(w));
  // Every blocked taker must re-arm its timer for the new due time: a single woken
  // taker may leave (its own wait or linger ends, or it takes other work) before the
  // item is due, and the rest would then sleep through it until their own deadline.
  cv_.notify_all();
}

std::size_t KeyScheduler::drop_if(const std::function<bool(const Work&)>& pred) {
  std::lock_guard lk(mu_);
  std::size_t dropped = 0;
  std::vector<std::string> released;
  for (auto it = delayed_.begin(); it != delayed_.end();) {
    if (pred(*it->second)) {
      forget_locked(*it->second);
      released.push_back(it->second->lane_key);
      it = delayed_.erase(it);
      ++dropped;
    } else {
      ++it;
    }
  }
  for (auto& [key, ks] : keys_)
    dropped += ks.queue.remove_if(pred, [&](const Work& w) { forget_locked(w); });
  for (const auto& key : released) release_key_locked(key);
  for (auto it = keys_.begin(); it != keys_.end();) {
    if (!it->second.busy && it->second.queue.empty())
      it = keys_.erase(it);
    else
      ++it;
  }
  return dropped;
}

void KeyScheduler::close() {
  std::lock_guard lk(mu_);
  closed_ = true;
  cv_.notify_all();
}

std::size_t KeyScheduler::size() const {
  std::lock_guard lk(mu_);
  return size_;
}

std::size_t KeyScheduler::in_flight() const {
  std::lock_guard lk(mu_);
  return running_.size();
}

std::size_t KeyScheduler::in_flight_if(const std::function<bool(const Work&)>& pred) const {
  std::lock_guard lk(mu_);
  return static_cast<std::size_t>(std::count_if(running_.begin(), running_.end(), [&](const Work* w) { return pred(*w); }));
}

KeyScheduler::Counts KeyScheduler::counts() const {
  std::lock_guard lk(mu_);
  return {size_, running_.size()};
}

std::chrono::duration<double> KeyScheduler::oldest_age() const {
  std::lock_guard lk(mu_);
  if (arrivals_.empty()) return std::chrono::duration<double>(0);
  return Clock::now() - arrivals_.front().consumed_at;
}

}  // namespace lockstep
