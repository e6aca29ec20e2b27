#include "apply/backoff.hpp"

#include <algorithm>

namespace lockstep {

std::chrono::milliseconds Backoff::ceiling(int attempt) const {
  if (attempt < 1) attempt = 1;
  const int64_t base = base_.count();
  const int64_t max = max_.count();
  if (base <= 0) return std::chrono::milliseconds(0);
  int64_t d = base;
  // Doubling stops at max; checking against max / 2 first keeps d * 2 from
  // overflowing when max is close to the largest representable value.
  for (int i = 1; i < attempt && d < max; ++i) d = d > max / 2 ? max : d * 2;
  return std::chrono::milliseconds(std::min(d, max));
}

}  // namespace lockstep
