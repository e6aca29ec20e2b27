// Per-key serial scheduling: at most one event per aggregate key is in flight;
// a key's events run in arrival order (so offset order within a partition), and
// different keys run in parallel. A key that waits (backoff, slow CAS) never
// blocks other keys: there are no lanes to share, only per-key queues.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "schedule/work.hpp"

namespace lockstep {

class KeyScheduler {
 public:
  using Clock = std::chrono::steady_clock;

  // Adds a consumed event behind earlier events of its key.
  void push(WorkPtr w);

  // Waits up to `wait` for ready events, then up to `linger` more while fewer
  // than `max` are ready. Returns events of distinct keys, each now in flight
  // (its key held) until passed to done() or retry_later(). Empty on timeout or close().
  std::vector<WorkPtr> take_batch(std::size_t max, std::chrono::milliseconds wait,
                                  std::chrono::milliseconds linger);

  // The event has its outcome: releases its key to the next event of that key.
  void done(WorkPtr w);

  // The event goes again after `delay`; its key stays held meanwhile.
  void retry_later(WorkPtr w, std::chrono::milliseconds delay);

  // Removes queued and waiting (not in-flight) events matching `pred`; returns how many.
  std::size_t drop_if(const std::function<bool(const Work&)>& pred);

  void close();  // wakes every waiter; take_batch returns empty from now on

  std::size_t size() const;      // events owned: queued + in flight + waiting
  std::size_t in_flight() const;  // handed out by take_batch and not yet returned
  // How many of those match `pred` (e.g. the events of partitions being revoked).
  std::size_t in_flight_if(const std::function<bool(const Work&)>& pred) const;
  struct Counts {
    std::size_t size = 0;
    std::size_t in_flight = 0;
  };
  Counts counts() const;  // both, from one consistent moment
  // Age of the oldest event that has no outcome yet (0 when none); events are
  // pushed in the order they were consumed.
  std::chrono::duration<double> oldest_age() const;

 private:
  // A key's waiting events, oldest first. A vector and a read index rather
  // than a std::deque, which allocates its buffers as soon as it exists: most
  // keys hold one event at a time, and a key's state comes and goes with it.
  class KeyQueue {
   public:
    bool empty() const { return front_ == items_.size(); }
    void push(WorkPtr w) { items_.push_back(std::move(w)); }
    WorkPtr& head() { return items_[front_]; }
    WorkPtr pop() {
      WorkPtr w = std::move(items_[front_++]);
      if (empty()) {
        items_.clear();
        front_ = 0;
      }
      return w;
    }
    // Removes the events matching `pred`, calling `gone` on each first; how many.
    std::size_t remove_if(const std::function<bool(const Work&)>& pred, const std::function<void(const Work&)>& gone);

   private:
    std::vector<WorkPtr> items_;
    std::size_t front_ = 0;
  };
  struct KeyState {
    KeyQueue queue;
    bool busy = false;
  };
  // The consumed_at of every event owned, in arrival order, each marked once
  // it is forgotten; the front is the oldest event still owned.
  struct Arrival {
    Clock::time_point consumed_at;
    bool gone = false;
  };
  void release_key_locked(const std::string& key);
  void forget_locked(const Work& w);
  std::size_t collect_locked(std::vector<WorkPtr>& out, std::size_t max, Clock::time_point now);

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<std::string, KeyState> keys_;
  std::deque<std::string> ready_;  // keys that may have a runnable head (validated on pop)
  std::multimap<Clock::time_point, WorkPtr> delayed_;
  std::deque<Arrival> arrivals_;
  uint64_t first_arrival_ = 0;  // the arrival number of arrivals_.front()
  std::unordered_set<const Work*> running_;  // handed out by take_batch, not yet returned
  std::size_t size_ = 0;
  bool closed_ = false;
};

}  // namespace lockstep
