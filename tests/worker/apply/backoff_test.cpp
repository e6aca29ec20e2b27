// Backoff: exponential with "equal jitter" (docs/event.md "Outcomes" retry.base_delay_ms / max_delay_ms).
#include "apply/backoff.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <random>
#include <set>

namespace lockstep {
namespace {

using std::chrono::milliseconds;

TEST(Backoff, CeilingDoublesAndCapsAtMax) {
  Backoff b(milliseconds(10), milliseconds(1000));
  EXPECT_EQ(b.ceiling(1), milliseconds(10));
  EXPECT_EQ(b.ceiling(2), milliseconds(20));
  EXPECT_EQ(b.ceiling(3), milliseconds(40));
  EXPECT_EQ(b.ceiling(4), milliseconds(80));
  EXPECT_EQ(b.ceiling(7), milliseconds(640));
  EXPECT_EQ(b.ceiling(8), milliseconds(1000)) << "1280 capped at max";
  EXPECT_EQ(b.ceiling(9), milliseconds(1000));
  EXPECT_EQ(b.ceiling(50), milliseconds(1000));
}

TEST(Backoff, CeilingIsMonotonic) {
  Backoff b(milliseconds(3), milliseconds(600000));
  auto prev = milliseconds(0);
  for (int a = 1; a <= 100; ++a) {
    const auto c = b.ceiling(a);
    EXPECT_GE(c, prev) << "attempt " << a;
    EXPECT_LE(c, milliseconds(600000));
    prev = c;
  }
  EXPECT_EQ(prev, milliseconds(600000));
}

TEST(Backoff, AttemptBelowOneIsTreatedAsOne) {
  Backoff b(milliseconds(10), milliseconds(1000));
  EXPECT_EQ(b.ceiling(0), milliseconds(10));
  EXPECT_EQ(b.ceiling(-1), milliseconds(10));
  EXPECT_EQ(b.ceiling(std::numeric_limits<int>::min()), milliseconds(10));
  std::mt19937_64 rng(7);
  for (int i = 0; i < 100; ++i) {
    const auto d = b.delay(0, rng);
    EXPECT_GE(d, milliseconds(5));
    EXPECT_LE(d, milliseconds(10));
  }
}

TEST(Backoff, NoOverflowAtHugeAttempts) {
  Backoff b(milliseconds(10), milliseconds(600000));  // the configured upper bound
  EXPECT_EQ(b.ceiling(1000), milliseconds(600000));
  EXPECT_EQ(b.ceiling(std::numeric_limits<int>::max()), milliseconds(600000));
  std::mt19937_64 rng(1);
  const auto d = b.delay(1000, rng);
  EXPECT_GE(d, milliseconds(300000));
  EXPECT_LE(d, milliseconds(600000));
}

TEST(Backoff, NoOverflowWithAMaxNearTheTypeLimit) {
  // Doubling must stop at max even when max is close to the largest representable value.
  const auto big = milliseconds::max();
  Backoff b(milliseconds(1), big);
  EXPECT_EQ(b.ceiling(63), milliseconds(int64_t{1} << 62));
  EXPECT_EQ(b.ceiling(64), big);
  EXPECT_EQ(b.ceiling(1000), big);
  Backoff b3(milliseconds(3), big);
  auto prev = milliseconds(0);
  for (int a = 1; a <= 1000; ++a) {
    const auto c = b3.ceiling(a);
    ASSERT_GE(c, prev) << "attempt " << a << ": ceiling went down (overflow?)";
    prev = c;
  }
  EXPECT_EQ(prev, big);
}

TEST(Backoff, DelayIsWithinEqualJitterBounds) {
  Backoff b(milliseconds(10), milliseconds(1000));
  std::mt19937_64 rng(12345);
  for (int attempt = 1; attempt <= 12; ++attempt) {
    const auto c = b.ceiling(attempt);
    auto lo = c;
    auto hi = milliseconds(0);
    for (int i = 0; i < 5000; ++i) {
      const auto d = b.delay(attempt, rng);
      ASSERT_GE(d, c / 2) << "attempt " << attempt;
      ASSERT_LE(d, c) << "attempt " << attempt;
      lo = std::min(lo, d);
      hi = std::max(hi, d);
    }
    // The draws actually spread over the interval (not a constant).
    EXPECT_EQ(lo, c / 2) << "attempt " << attempt;
    EXPECT_EQ(hi, c) << "attempt " << attempt;
  }
}

TEST(Backoff, DelayIsDeterministicForASeed) {
  Backoff b(milliseconds(10), milliseconds(1000));
  std::mt19937_64 r1(99);
  std::mt19937_64 r2(99);
  for (int i = 1; i < 200; ++i) EXPECT_EQ(b.delay(i % 10, r1), b.delay(i % 10, r2));
}

TEST(Backoff, SmallCeilings) {
  Backoff b(milliseconds(1), milliseconds(1));
  std::mt19937_64 rng(3);
  std::set<int64_t> seen;
  for (int i = 0; i < 1000; ++i) {
    const auto d = b.delay(5, rng);
    ASSERT_GE(d, milliseconds(0));
    ASSERT_LE(d, milliseconds(1));
    seen.insert(d.count());
  }
  EXPECT_EQ(seen, (std::set<int64_t>{0, 1}));
}

TEST(Backoff, BaseZeroGivesZero) {
  Backoff b(milliseconds(0), milliseconds(1000));
  std::mt19937_64 rng(5);
  for (int a = -1; a <= 100; ++a) {
    EXPECT_EQ(b.ceiling(a), milliseconds(0));
    EXPECT_EQ(b.delay(a, rng), milliseconds(0));
  }
  Backoff z(milliseconds(0), milliseconds(0));
  EXPECT_EQ(z.ceiling(1000), milliseconds(0));
  EXPECT_EQ(z.delay(1000, rng), milliseconds(0));
}

TEST(Backoff, BaseAboveMaxIsCapped) {
  Backoff b(milliseconds(500), milliseconds(100));
  EXPECT_EQ(b.ceiling(1), milliseconds(100));
  EXPECT_EQ(b.ceiling(10), milliseconds(100));
}

}  // namespace
}  // namespace lockstep
