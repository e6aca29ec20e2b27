// The worker stopped while its producer still holds messages: what a stop
// leaves behind is reported to parts that still exist, and nothing is skipped.
// (Not labelled concurrency: it runs under AddressSanitizer in CI, which sees
// a use after free that ThreadSanitizer, on one thread, does not.)
#include "worker_fixture.hpp"

namespace lockstep {
namespace {

// Outcome messages still undelivered when the worker stops: the broker keeps
// refusing their produce requests, and in the second case stops answering
// altogether before the stop (a hang, as behind a path that drops packets).
// Destroying the worker makes its producer report them as not delivered, and
// those reports must reach parts that still exist: a worker process once died
// of a double free on SIGTERM because they reached the outcome publisher after
// it was destroyed. The stop keeps to its time budget all the same. None of their events was committed past, so a new member
// of the group reads every one again.
class UndeliveredAtStop : public WorkerTest, public ::testing::WithParamInterface<bool> {};

TEST_P(UndeliveredAtStop, OutcomesUndeliveredAtStopAreReportedToLivePartsAndReadAgain) {
  if (!mock()) GTEST_SKIP() << "needs the development broker's injected produce errors and response delay";
  const bool silent = GetParam();
  kafka.create_topic("transitions.outcomes", 1);
  cfg.kafka.outcome_topic = kafka.topic("transitions.outcomes");
  Producer p(cfg.kafka.brokers, {});
  constexpr int kEvents = 20;
  for (int i = 0; i < kEvents; ++i)
    send(p, i % 2 ? api : bot, event_json(numbered("u-", i), numbered("u", i), "join"),
         "membership:u" + std::to_string(i));
  constexpr int kNotLeader = 6;  // retriable: the producer keeps each message until message.timeout.ms
  mock()->push_request_errors(0, std::vector<int>(100000, kNotLeader));  // Produce
  start();
  ASSERT_TRUE(poll_until(60s, [&] { return count("SELECT count(*) FROM processed_events") == kEvents; }));
  if (silent) mock()->set_rtt(1, 120s);
  const auto asked = std::chrono::steady_clock::now();
  stop = true;
  const auto budget = std::chrono::milliseconds(cfg.shutdown_timeout_ms);
  ASSERT_TRUE(poll_until(budget + 30s, [&] { return returned.load(); }));
  // Within the budget, give or take the last steps' minimal waits: a stop
  // once overran it by the committer thread's wait for the silent coordinator.
  const auto took = std::chrono::steady_clock::now() - asked;
  EXPECT_LT(took, budget + 250ms) << "the stop overran shutdown.timeout_ms: "
                                  << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms";
  thread.join();
  worker.reset();  // the producer reports what it still holds
  // The broker takes and answers produce requests again, for the markers below.
  mock()->set_rtt(1, 0ms);
  mock()->clear_request_errors(0);
  EXPECT_EQ(reread_by_new_member(p), kEvents) << "an event whose outcome message was not delivered was committed past";
}

INSTANTIATE_TEST_SUITE_P(Broker, UndeliveredAtStop, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& i) { return i.param ? "silent" : "refusing"; });

}  // namespace
}  // namespace lockstep
