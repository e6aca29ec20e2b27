// KeyScheduler: per-key serial scheduling (single-threaded and small multi-threaded cases).
#include "schedule/scheduler.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "lockstep/test/support.hpp"
#include "schedule/work.hpp"

namespace lockstep {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using lockstep::test::poll_until;

WorkPtr make_work(const std::string& key, int64_t offset, Clock::time_point consumed_at = Clock::now()) {
  auto w = std::make_unique<Work>();
  w->lane_key = key;
  w->src.topic = "t";
  w->src.offset = offset;
  w->consumed_at = consumed_at;
  return w;
}

// "k<i>", built by appending: a string literal + std::to_string(i) trips GCC 12's
// false -Wrestrict at -O3 (GCC bug 105329), and the Release build runs with -Werror.
std::string key_k(int i) {
  std::string key = "k";
  key += std::to_string(i);
  return key;
}

// Non-blocking take.
std::vector<WorkPtr> take_now(KeyScheduler& s, std::size_t max = 100) { return s.take_batch(max, 0ms, 0ms); }

std::set<std::string> keys_of(const std::vector<WorkPtr>& batch) {
  std::set<std::string> keys;
  for (const auto& w : batch) keys.insert(w->lane_key);
  return keys;
}

TEST(KeyScheduler, EmptyTakeReturnsNothing) {
  KeyScheduler s;
  EXPECT_TRUE(take_now(s).empty());
  EXPECT_EQ(s.size(), 0u);
  EXPECT_EQ(s.in_flight(), 0u);
  s.push(make_work("a", 0));
  EXPECT_TRUE(s.take_batch(0, 0ms, 0ms).empty()) << "max 0 takes nothing";
  EXPECT_EQ(s.in_flight(), 0u);
  EXPECT_EQ(take_now(s).size(), 1u);
}

TEST(KeyScheduler, WaitTimesOutEmpty) {
  KeyScheduler s;
  const auto t0 = Clock::now();
  EXPECT_TRUE(s.take_batch(10, 50ms, 0ms).empty());
  EXPECT_GE(Clock::now() - t0, 50ms);
}

TEST(KeyScheduler, SameKeyNeverHandedOutTwiceConcurrently) {
  KeyScheduler s;
  for (int64_t i = 0; i < 3; ++i) s.push(make_work("a", i));
  auto b1 = take_now(s);
  ASSERT_EQ(b1.size(), 1u) << "only one item of a key per batch";
  EXPECT_EQ(b1[0]->src.offset, 0);
  EXPECT_TRUE(take_now(s).empty()) << "key 'a' is in flight";
  EXPECT_TRUE(s.take_batch(10, 30ms, 0ms).empty()) << "still in flight after waiting";
  s.push(make_work("a", 3));
  EXPECT_TRUE(take_now(s).empty()) << "a push to a held key does not make it ready";
  s.done(std::move(b1[0]));
  auto b2 = take_now(s);
  ASSERT_EQ(b2.size(), 1u);
  EXPECT_EQ(b2[0]->src.offset, 1);
  EXPECT_TRUE(take_now(s).empty());
  EXPECT_EQ(s.size(), 3u);
  EXPECT_EQ(s.in_flight(), 1u);
}

TEST(KeyScheduler, FifoPerKey) {
  KeyScheduler s;
  constexpr int kPerKey = 50;
  const std::vector<std::string> keys = {"a", "b", "c"};
  for (int i = 0; i < kPerKey; ++i)
    for (const auto& k : keys) s.push(make_work(k, i));
  std::map<std::string, int64_t> next;
  std::size_t completed = 0;
  while (completed < keys.size() * kPerKey) {
    auto batch = take_now(s, 2);  // max 2 < number of keys: exercises rotation
    ASSERT_FALSE(batch.empty());
    for (auto& w : batch) {
      EXPECT_EQ(w->src.offset, next[w->lane_key]++) << "key " << w->lane_key;
      s.done(std::move(w));
      ++completed;
    }
  }
  EXPECT_EQ(s.size(), 0u);
  EXPECT_EQ(s.in_flight(), 0u);
  EXPECT_TRUE(take_now(s).empty());
}

TEST(KeyScheduler, BatchHoldsDistinctKeys) {
  KeyScheduler s;
  for (int i = 0; i < 3; ++i)
    for (const char* k : {"a", "b", "c", "d"}) s.push(make_work(k, i));
  auto batch = take_now(s, 100);
  ASSERT_EQ(batch.size(), 4u);
  EXPECT_EQ(keys_of(batch), (std::set<std::string>{"a", "b", "c", "d"}));
  for (const auto& w : batch) EXPECT_EQ(w->src.offset, 0) << w->lane_key;
  EXPECT_TRUE(take_now(s).empty()) << "every key is held";
  for (auto& w : batch) s.done(std::move(w));
  auto batch2 = take_now(s, 100);
  ASSERT_EQ(batch2.size(), 4u);
  EXPECT_EQ(keys_of(batch2).size(), 4u);
  for (const auto& w : batch2) EXPECT_EQ(w->src.offset, 1) << w->lane_key;
}

TEST(KeyScheduler, BatchMaxRespected) {
  KeyScheduler s;
  for (int i = 0; i < 10; ++i) s.push(make_work(key_k(i), i));
  auto b1 = take_now(s, 3);
  EXPECT_EQ(b1.size(), 3u);
  EXPECT_EQ(s.in_flight(), 3u);
  auto b2 = s.take_batch(4, 0ms, 50ms);
  EXPECT_EQ(b2.size(), 4u);
  auto b3 = take_now(s, 100);
  EXPECT_EQ(b3.size(), 3u);
  EXPECT_EQ(s.in_flight(), 10u);
  std::set<std::string> all;
  for (auto* b : {&b1, &b2, &b3})
    for (const auto& w : *b) all.insert(w->lane_key);
  EXPECT_EQ(all.size(), 10u);
}

TEST(KeyScheduler, ReadyItemReturnsWithoutLingeringWhenBatchIsFull) {
  KeyScheduler s;
  s.push(make_work("a", 0));
  const auto t0 = Clock::now();
  auto b = s.take_batch(1, 10s, 10s);
  EXPECT_EQ(b.size(), 1u);
  EXPECT_LT(Clock::now() - t0, 5s);
}

TEST(KeyScheduler, LingerFillsTheBatch) {
  KeyScheduler s;
  s.push(make_work("a", 0));
  std::atomic<bool> returned{false};
  std::vector<WorkPtr> got;
  std::thread t([&] {
    got = s.take_batch(3, 10s, 10s);
    returned = true;
  });
  // The first item is taken immediately; the taker then lingers for more.
  ASSERT_TRUE(poll_until(5s, [&] { return s.in_flight() == 1; }));
  EXPECT_FALSE(returned.load());
  s.push(make_work("b", 0));
  s.push(make_work("c", 0));
  const bool ok = poll_until(5s, [&] { return returned.load(); });
  if (!ok) s.close();
  t.join();
  ASSERT_TRUE(ok) << "take_batch did not return once the batch was full";
  EXPECT_EQ(keys_of(got), (std::set<std::string>{"a", "b", "c"}));
}

TEST(KeyScheduler, BlockedTakeWakesOnPush) {
  KeyScheduler s;
  std::atomic<bool> returned{false};
  std::vector<WorkPtr> got;
  std::thread t([&] {
    got = s.take_batch(10, 30s, 0ms);
    returned = true;
  });
  s.push(make_work("a", 7));
  const bool ok = poll_until(5s, [&] { return returned.load(); });
  if (!ok) s.close();
  t.join();
  ASSERT_TRUE(ok);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0]->src.offset, 7);
}

TEST(KeyScheduler, RetryLaterHoldsTheKeyAndReturnsTheItemAfterTheDelay) {
  KeyScheduler s;
  s.push(make_work("a", 0));
  s.push(make_work("a", 1));
  s.push(make_work("b", 0));
  auto b = take_now(s);
  ASSERT_EQ(b.size(), 2u);
  WorkPtr a0;
  for (auto& w : b) {
    if (w->lane_key == "a") {
      a0 = std::move(w);
    } else {
      s.done(std::move(w));
    }
  }
  ASSERT_TRUE(a0);
  ASSERT_EQ(a0->src.offset, 0);

  const auto delay = 150ms;
  const auto t0 = Clock::now();
  a0->attempts = 1;
  s.retry_later(std::move(a0), delay);
  EXPECT_EQ(s.in_flight(), 0u);
  EXPECT_EQ(s.size(), 2u) << "the waiting item is still owned";
  EXPECT_TRUE(take_now(s).empty()) << "a:1 must not run while a:0 waits for its retry";

  std::vector<WorkPtr> back;
  ASSERT_TRUE(poll_until(5s, [&] {
    back = take_now(s);
    return !back.empty();
  })) << "the retried item never came back";
  EXPECT_GE(Clock::now() - t0, delay);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0]->lane_key, "a");
  EXPECT_EQ(back[0]->src.offset, 0) << "the retried item comes back, not the next one";
  EXPECT_EQ(back[0]->attempts, 1);
  EXPECT_EQ(s.in_flight(), 1u);
  EXPECT_TRUE(take_now(s).empty());
  s.done(std::move(back[0]));
  auto next = take_now(s);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0]->src.offset, 1);
  s.done(std::move(next[0]));
  EXPECT_EQ(s.size(), 0u);
}

TEST(KeyScheduler, BlockedTakeReturnsRetriedItemAfterTheDelay) {
  KeyScheduler s;
  s.push(make_work("a", 0));
  auto b = take_now(s);
  ASSERT_EQ(b.size(), 1u);
  const auto t0 = Clock::now();
  s.retry_later(std::move(b[0]), 100ms);
  auto back = s.take_batch(10, 20s, 0ms);  // must wake for the delayed item, not the wait
  const auto elapsed = Clock::now() - t0;
  ASSERT_EQ(back.size(), 1u);
  EXPECT_GE(elapsed, 100ms);
  EXPECT_LT(elapsed, 10s);
}

TEST(KeyScheduler, ZeroDelayRetryIsImmediatelyAvailable) {
  KeyScheduler s;
  s.push(make_work("a", 0));
  s.push(make_work("a", 1));
  auto b = take_now(s);
  ASSERT_EQ(b.size(), 1u);
  s.retry_later(std::move(b[0]), 0ms);
  auto back = take_now(s);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0]->src.offset, 0);
}

// A retry must wake every blocked taker's timer, not just one: if the single woken
// taker leaves (its own short wait ends) before the retry is due, a taker with a
// long wait must still pick the item up at the due time.
TEST(KeyScheduler, RetryIsPickedUpByAnyBlockedTaker) {
  for (int round = 0; round < 5; ++round) {
    KeyScheduler s;
    s.push(make_work("a", 0));
    auto b = take_now(s);
    ASSERT_EQ(b.size(), 1u);

    constexpr int kShort = 6;
    std::atomic<int> started{0};
    std::atomic<bool> got_item{false};
    std::atomic<int> returned{0};
    std::mutex mu;
    std::vector<WorkPtr> got;
    auto taker = [&](std::chrono::milliseconds wait) {
      ++started;
      auto r = s.take_batch(1, wait, 0ms);
      std::lock_guard lk(mu);
      if (!r.empty()) {
        got_item = true;
        for (auto& w : r) got.push_back(std::move(w));
      }
      ++returned;
    };
    std::vector<std::thread> threads;
    threads.emplace_back(taker, 60s);
    for (int i = 0; i < kShort; ++i) threads.emplace_back(taker, 40ms + 5ms * i);
    ASSERT_TRUE(poll_until(5s, [&] { return started.load() == kShort + 1; }));
    // Let the takers reach their wait (best effort; a late taker only makes this easier to pass).
    poll_until(20ms, [] { return false; });
    const auto t0 = Clock::now();
    s.retry_later(std::move(b[0]), 150ms);
    const bool ok = poll_until(5s, [&] { return got_item.load(); });
    const auto elapsed = Clock::now() - t0;
    s.close();
    for (auto& t : threads) t.join();
    ASSERT_TRUE(ok) << "round " << round << ": retried item not picked up within 5 s of a 150 ms delay";
    EXPECT_GE(elapsed, 150ms);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0]->src.offset, 0);
  }
}

TEST(KeyScheduler, DropIfRemovesQueuedItemsAndReleasesKeys) {
  KeyScheduler s;
  for (int64_t i = 0; i < 5; ++i) s.push(make_work("a", i));
  s.push(make_work("b", 0));
  s.push(make_work("b", 1));
  EXPECT_EQ(s.size(), 7u);
  EXPECT_EQ(s.drop_if([](const Work& w) { return w.lane_key == "a"; }), 5u);
  EXPECT_EQ(s.size(), 2u);
  auto b = take_now(s);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0]->lane_key, "b");
  EXPECT_EQ(b[0]->src.offset, 0);
  // The dropped key works normally afterwards.
  s.push(make_work("a", 10));
  auto a = take_now(s);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0]->src.offset, 10);
  EXPECT_EQ(s.drop_if([](const Work&) { return false; }), 0u);
  EXPECT_EQ(s.size(), 3u);
}

TEST(KeyScheduler, DropIfRemovesDelayedItemsAndReleasesTheirKey) {
  KeyScheduler s;
  for (int64_t i = 0; i < 3; ++i) s.push(make_work("a", i));
  auto b = take_now(s);
  ASSERT_EQ(b.size(), 1u);
  s.retry_later(std::move(b[0]), std::chrono::hours(1));
  EXPECT_TRUE(take_now(s).empty());
  EXPECT_EQ(s.size(), 3u);
  EXPECT_EQ(s.drop_if([](const Work& w) { return w.src.offset == 0; }), 1u);
  EXPECT_EQ(s.size(), 2u);
  auto next = take_now(s);
  ASSERT_EQ(next.size(), 1u) << "dropping the waiting item releases its key";
  EXPECT_EQ(next[0]->src.offset, 1);
  s.done(std::move(next[0]));
  EXPECT_EQ(s.size(), 1u);
}

TEST(KeyScheduler, DropIfWakesABlockedTakerForTheReleasedKey) {
  KeyScheduler s;
  s.push(make_work("a", 0));
  s.push(make_work("a", 1));
  auto b = take_now(s);
  ASSERT_EQ(b.size(), 1u);
  s.retry_later(std::move(b[0]), std::chrono::hours(1));
  std::atomic<bool> returned{false};
  std::vector<WorkPtr> got;
  std::thread t([&] {
    got = s.take_batch(10, 30s, 0ms);
    returned = true;
  });
  EXPECT_EQ(s.drop_if([](const Work& w) { return w.src.offset == 0; }), 1u);
  const bool ok = poll_until(5s, [&] { return returned.load(); });
  if (!ok) s.close();
  t.join();
  ASSERT_TRUE(ok);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0]->src.offset, 1);
}

// drop_if may leave stale entries for a key in the ready list; when the key comes
// back, the stale entry and the new one must not hand out two of its items.
TEST(KeyScheduler, DroppedThenPushedKeyIsStillHandedOutOnce) {
  KeyScheduler s;
  s.push(make_work("a", 0));
  s.push(make_work("a", 1));
  s.push(make_work("b", 0));
  EXPECT_EQ(s.drop_if([](const Work& w) { return w.lane_key == "a"; }), 2u);
  s.push(make_work("a", 2));
  s.push(make_work("a", 3));
  auto batch = take_now(s, 100);
  std::size_t a_items = 0;
  for (const auto& w : batch) {
    if (w->lane_key == "a") {
      ++a_items;
      EXPECT_EQ(w->src.offset, 2);
    }
  }
  EXPECT_EQ(a_items, 1u);
  EXPECT_EQ(batch.size(), 2u);
  EXPECT_TRUE(take_now(s, 100).empty());
  EXPECT_EQ(s.in_flight(), 2u);
}

TEST(KeyScheduler, DropIfLeavesInFlightItemsAlone) {
  KeyScheduler s;
  s.push(make_work("a", 0));
  s.push(make_work("a", 1));
  s.push(make_work("a", 2));
  auto b = take_now(s);
  ASSERT_EQ(b.size(), 1u);
  std::size_t seen = 0;
  EXPECT_EQ(s.drop_if([&](const Work& w) {
              EXPECT_NE(w.src.offset, 0) << "the predicate must not see in-flight items";
              ++seen;
              return w.src.offset == 1;
            }),
            1u);
  EXPECT_GE(seen, 2u);
  EXPECT_EQ(s.size(), 2u);
  EXPECT_EQ(s.in_flight(), 1u);
  EXPECT_TRUE(take_now(s).empty()) << "key still held by the in-flight item";
  s.done(std::move(b[0]));
  auto next = take_now(s);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0]->src.offset, 2);
  EXPECT_EQ(s.drop_if([](const Work&) { return true; }), 0u);
  s.done(std::move(next[0]));
  EXPECT_EQ(s.size(), 0u);
  EXPECT_EQ(s.in_flight(), 0u);
}

TEST(KeyScheduler, DropEverything) {
  KeyScheduler s;
  for (int i = 0; i < 20; ++i) s.push(make_work(key_k(i % 4), i));
  auto b = take_now(s, 2);
  ASSERT_EQ(b.size(), 2u);
  s.retry_later(std::move(b[0]), std::chrono::hours(1));
  EXPECT_EQ(s.drop_if([](const Work&) { return true; }), 19u);
  EXPECT_EQ(s.size(), 1u);
  EXPECT_EQ(s.in_flight(), 1u);
  EXPECT_TRUE(take_now(s).empty());
  s.done(std::move(b[1]));
  EXPECT_EQ(s.size(), 0u);
  EXPECT_EQ(s.oldest_age().count(), 0.0);
}

TEST(KeyScheduler, CloseWakesABlockedTakeBatch) {
  KeyScheduler s;
  std::atomic<bool> started{false};
  std::atomic<bool> returned{false};
  std::vector<WorkPtr> got;
  std::thread t([&] {
    started = true;
    got = s.take_batch(10, 60s, 60s);
    returned = true;
  });
  ASSERT_TRUE(poll_until(5s, [&] { return started.load(); }));
  s.close();
  const bool ok = poll_until(5s, [&] { return returned.load(); });
  t.join();  // at worst after the 60 s wait when the wake-up is broken
  EXPECT_TRUE(ok) << "close() did not wake the blocked take_batch";
  EXPECT_TRUE(got.empty());
}

TEST(KeyScheduler, TakeAfterCloseIsEmpty) {
  KeyScheduler s;
  s.push(make_work("a", 0));
  s.close();
  const auto t0 = Clock::now();
  EXPECT_TRUE(s.take_batch(10, 10s, 0ms).empty());
  EXPECT_LT(Clock::now() - t0, 5s);
  EXPECT_EQ(s.size(), 1u) << "close does not drop anything";
}

TEST(KeyScheduler, OldestAge) {
  KeyScheduler s;
  EXPECT_EQ(s.oldest_age().count(), 0.0);
  const auto now = Clock::now();
  s.push(make_work("a", 0, now - 5s));
  s.push(make_work("b", 0, now - 1s));
  s.push(make_work("b", 1, now - 1s));  // same consumed_at as another item
  EXPECT_GE(s.oldest_age(), 5s);
  EXPECT_LT(s.oldest_age(), 60s);

  auto batch = take_now(s);
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_GE(s.oldest_age(), 5s) << "in flight items still count";
  WorkPtr a, b0;
  for (auto& w : batch) (w->lane_key == "a" ? a : b0) = std::move(w);
  s.retry_later(std::move(a), std::chrono::hours(1));
  EXPECT_GE(s.oldest_age(), 5s) << "waiting items still count";
  EXPECT_EQ(s.drop_if([](const Work& w) { return w.lane_key == "a"; }), 1u);
  EXPECT_GE(s.oldest_age(), 1s);
  EXPECT_LT(s.oldest_age(), 5s);
  s.done(std::move(b0));
  EXPECT_GE(s.oldest_age(), 1s) << "b:1 is still there";
  auto b1 = take_now(s);
  ASSERT_EQ(b1.size(), 1u);
  s.done(std::move(b1[0]));
  EXPECT_EQ(s.oldest_age().count(), 0.0);
  EXPECT_EQ(s.size(), 0u);
}

TEST(KeyScheduler, InFlightAndSizeCounts) {
  KeyScheduler s;
  for (int i = 0; i < 5; ++i) s.push(make_work(key_k(i), 0));
  EXPECT_EQ(s.size(), 5u);
  EXPECT_EQ(s.in_flight(), 0u);
  auto b = take_now(s, 3);
  ASSERT_EQ(b.size(), 3u);
  EXPECT_EQ(s.in_flight(), 3u);
  EXPECT_EQ(s.size(), 5u);
  s.done(std::move(b[0]));
  EXPECT_EQ(s.in_flight(), 2u);
  EXPECT_EQ(s.size(), 4u);
  s.retry_later(std::move(b[1]), 0ms);
  EXPECT_EQ(s.in_flight(), 1u) << "a waiting item is not in flight";
  EXPECT_EQ(s.size(), 4u) << "but still owned";
  auto rest = take_now(s, 100);
  EXPECT_EQ(rest.size(), 3u) << "the retried item and the two never-taken keys";
  EXPECT_EQ(s.in_flight(), 4u);
  EXPECT_EQ(s.size(), 4u);
  s.done(std::move(b[2]));
  for (auto& w : rest) s.done(std::move(w));
  EXPECT_EQ(s.in_flight(), 0u);
  EXPECT_EQ(s.size(), 0u);
}

// What a cooperative rebalance waits for: the running events of the partitions
// it revokes only, not those of the partitions that stay (which keep coming).
TEST(KeyScheduler, InFlightIfCountsOnlyTheMatchingRunningItems) {
  KeyScheduler s;
  for (int i = 0; i < 6; ++i) {
    auto w = make_work(key_k(i), i);
    w->src.partition = i % 2;
    s.push(std::move(w));
  }
  const auto on = [](int partition) { return [partition](const Work& w) { return w.src.partition == partition; }; };
  EXPECT_EQ(s.in_flight_if(on(0)), 0u) << "queued is not in flight";
  auto b = take_now(s, 4);  // k0..k3: partitions 0, 1, 0, 1
  ASSERT_EQ(b.size(), 4u);
  EXPECT_EQ(s.in_flight_if(on(0)), 2u);
  EXPECT_EQ(s.in_flight_if(on(1)), 2u);
  s.done(std::move(b[0]));
  s.retry_later(std::move(b[2]), 1h);
  EXPECT_EQ(s.in_flight_if(on(0)), 0u) << "done and waiting items are not in flight";
  EXPECT_EQ(s.in_flight_if(on(1)), 2u);
  EXPECT_EQ(s.in_flight(), 2u);
  s.done(std::move(b[1]));
  s.done(std::move(b[3]));
  EXPECT_EQ(s.in_flight_if(on(1)), 0u);
}

TEST(KeyScheduler, HotKeyDoesNotDelayOtherKeys) {
  KeyScheduler s;
  constexpr int kHot = 10000;
  constexpr int kOthers = 100;
  for (int i = 0; i < kHot; ++i) s.push(make_work("hot", i));
  for (int i = 0; i < kOthers; ++i) s.push(make_work("cold" + std::to_string(i), 0));
  EXPECT_EQ(s.size(), static_cast<std::size_t>(kHot + kOthers));

  constexpr std::size_t kMax = 16;
  std::set<std::string> cold_seen;
  int64_t hot_next = 0;
  int batches = 0;
  // Each batch holds at most one hot item, so all cold keys come out within
  // ceil(100 / 15) = 7 batches; allow one more for rotation.
  while (cold_seen.size() < kOthers && batches < 8) {
    auto batch = take_now(s, kMax);
    ++batches;
    ASSERT_FALSE(batch.empty());
    int hot_in_batch = 0;
    for (auto& w : batch) {
      if (w->lane_key == "hot") {
        ++hot_in_batch;
        EXPECT_EQ(w->src.offset, hot_next++);
      } else {
        EXPECT_TRUE(cold_seen.insert(w->lane_key).second);
      }
      s.done(std::move(w));
    }
    EXPECT_LE(hot_in_batch, 1);
  }
  EXPECT_EQ(cold_seen.size(), static_cast<std::size_t>(kOthers))
      << "cold keys starved behind the hot key after " << batches << " batches";
  EXPECT_EQ(s.size(), static_cast<std::size_t>(kHot) - static_cast<std::size_t>(hot_next));
  // The hot key drains in order.
  while (s.size() > 0) {
    auto batch = take_now(s, kMax);
    ASSERT_EQ(batch.size(), 1u);
    EXPECT_EQ(batch[0]->src.offset, hot_next++);
    s.done(std::move(batch[0]));
  }
  EXPECT_EQ(hot_next, kHot);
}

TEST(KeyScheduler, HotKeyHeldInFlightDoesNotBlockOtherKeys) {
  KeyScheduler s;
  for (int i = 0; i < 10000; ++i) s.push(make_work("hot", i));
  auto hot = take_now(s, 1);
  ASSERT_EQ(hot.size(), 1u);
  s.retry_later(std::move(hot[0]), std::chrono::hours(1));  // e.g. backing off
  for (int i = 0; i < 50; ++i) s.push(make_work("cold" + std::to_string(i), 0));
  auto batch = take_now(s, 100);
  EXPECT_EQ(batch.size(), 50u);
  for (const auto& w : batch) EXPECT_NE(w->lane_key, "hot");
}

}  // namespace
}  // namespace lockstep
