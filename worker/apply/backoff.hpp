// Exponential backoff with jitter (docs/event.md "Outcomes": retry.base_delay_ms, retry.max_delay_ms).
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace lockstep {

class Backoff {
 public:
  Backoff(std::chrono::milliseconds base, std::chrono::milliseconds max) : base_(base), max_(max) {}

  // Ceiling for retry number `attempt` (1-based): min(max, base * 2^(attempt-1)).
  std::chrono::milliseconds ceiling(int attempt) const;

  // "Equal jitter": uniformly in [ceiling/2, ceiling], so retries of racing writers
  // spread out while the delay still grows. Uses the caller's generator (no global state).
  template <class Rng>
  std::chrono::milliseconds delay(int attempt, Rng& rng) const {
    const auto c = ceiling(attempt).count();
    if (c <= 0) return std::chrono::milliseconds(0);
    std::uniform_int_distribution<int64_t> d(c / 2, c);
    return std::chrono::milliseconds(d(rng));
  }

 private:
  std::chrono::milliseconds base_;
  std::chrono::milliseconds max_;
};

}  // namespace lockstep
