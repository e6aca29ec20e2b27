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
  // Age of the oldest event that has no outcome yet (0 when none).
  std::chrono::duration<double> oldest_age() const;

 private:
  struct KeyState {
    std::deque<WorkPtr> queue;
    bool busy = false;
  };
  void release_key_locked(const std::string& key);
  void forget_locked(const Work& w);
  std::size_t collect_locked(std::vector<WorkPtr>& out, std::size_t max, Clock::time_point now);

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<std::string, KeyState> keys_;
  std::deque<std::string> ready_;  // keys that may have a runnable head (validated on pop)
  std::multimap<Clock::time_point, WorkPtr> delayed_;
  std::multiset<Clock::time_point> consumed_at_;
  std::unordered_set<const Work*> running_;  // handed out by take_batch, not yet returned
  std::size_t size_ = 0;
  bool closed_ = false;
};

}  // namespace lockstep
