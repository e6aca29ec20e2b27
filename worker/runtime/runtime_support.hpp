// Small helpers the worker's parts share: the clock, deadlines, partition
// names in log lines, thread names, and an interruptible wait for background
// loops.
#pragma once

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>

namespace lockstep::runtime {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

inline std::string tp_name(const std::string& topic, int32_t p) { return topic + "/" + std::to_string(p); }

// Time left until `t`, at least `floor`: a last question still gets a moment.
inline milliseconds left_until(Clock::time_point t, milliseconds floor = milliseconds(100)) {
  return std::max(floor, std::chrono::duration_cast<milliseconds>(t - Clock::now()));
}

// Steady clock in milliseconds (0 is kept for "not busy").
inline int64_t now_ms() {
  return std::chrono::duration_cast<milliseconds>(Clock::now().time_since_epoch()).count();
}

// Names the calling thread as `top -H`, `ps -L`, perf and gdb show it
// (/proc/PID/task/TID/comm): at most 15 bytes, the rest is cut.
inline void name_this_thread(const std::string& name) {
  ::pthread_setname_np(::pthread_self(), name.substr(0, 15).c_str());
}

// Interruptible wait used by background loops.
class Waker {
 public:
  void wait_for(milliseconds d) {
    std::unique_lock lk(mu_);
    cv_.wait_for(lk, d, [&] { return kicked_; });
    kicked_ = false;
  }
  void kick() {
    std::lock_guard lk(mu_);
    kicked_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool kicked_ = false;
};

}  // namespace lockstep::runtime
