// Worker runtime: wires the parts and runs their threads.
//  - the caller of run(): the only thread touching the Kafka consumer (poll,
//    pause/resume, commits, rebalance callbacks): ConsumeLoop, Rebalance;
//  - database.pool_size executors: take batches of distinct keys from the
//    KeyScheduler, run them through the Engine on their own connection:
//    ExecutorPool (DbSlots, with the database watchdog's thread);
//  - one relay: drains the dead_letters outbox to the dead-letter topic:
//    DeadLetterRelayLoop;
//  - the committer (Committer), the lag probe (LagProbe), the topic watch (TopicWatch).
// Outcome messages (OutcomePublisher) complete events on the threads that poll the producer.
#include "worker.hpp"

#include <spdlog/spdlog.h>

#include <functional>
#include <thread>

#include "commit/committer.hpp"
#include "outcome/completion.hpp"
#include "consume/consume_loop.hpp"
#include "apply/db_slots.hpp"
#include "outcome/dead_letter_relay.hpp"
#include "executor_pool.hpp"
#include "consume/lag_probe.hpp"
#include "lockstep/kafka.hpp"
#include "schedule/scheduler.hpp"
#include "commit/offset_book.hpp"
#include "outcome/outcome_publisher.hpp"
#include "runtime/readiness.hpp"
#include "runtime/status.hpp"
#include "consume/rebalance.hpp"
#include "consume/topic_watch.hpp"

namespace lockstep {

using namespace runtime;

struct Worker::Impl {
  Config cfg;
  std::shared_ptr<Metrics> metrics;
  Readiness readiness;
  StatusBoard board;
  KeyScheduler sched;
  OffsetBook book;
  Completion completion{book, sched};
  std::unique_ptr<Producer> producer;
  std::unique_ptr<Consumer> consumer;
  std::unique_ptr<OutcomePublisher> publisher;
  std::unique_ptr<DbSlots> db_slots;
  std::unique_ptr<DeadLetterRelayLoop> relay;
  std::unique_ptr<ExecutorPool> executors;
  std::unique_ptr<Committer> committer;
  std::unique_ptr<Rebalance> rebalance;
  std::unique_ptr<ConsumeLoop> consume;
  std::unique_ptr<LagProbe> lag;
  std::unique_ptr<TopicWatch> topic_watch;

  Impl(Config c, std::shared_ptr<Metrics> m) : cfg(std::move(c)), metrics(std::move(m)) {}
  // A consumer not closed yet closes now, and its revocation needs the parts.
  // The producer goes next: its destructor reports what it still holds as not
  // delivered, and those reports go to the outcome publisher, the completion,
  // the offset book and the scheduler, which must all still exist (destroyed
  // in member order, the publisher would go first: a use after free).
  ~Impl() {
    consumer.reset();
    producer.reset();
  }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  void poll_producer(milliseconds timeout) { publisher->poll(timeout); }

  void update_gauges() {
    readiness.check_publish_stall(publisher->oldest_pending(), relay->publishing_since_ms());
    metrics->set_ready(readiness.ready());
    metrics->set_inflight(static_cast<double>(sched.size()));
    metrics->set_oldest_inflight(sched.oldest_age().count());
  }

  // The clients and the parts, each given what it works with.
  std::vector<std::string> wire(const std::atomic<bool>& stop) {
    Metrics& m = *metrics;
    producer = std::make_unique<Producer>(cfg.kafka.brokers, cfg.kafka.properties);
    publisher = std::make_unique<OutcomePublisher>(producer.get(), cfg.kafka.outcome_topic, completion, m,
                                                   readiness.outcome_ok);
    Consumer::Hooks hooks;  // the hooks run inside poll(), once every part below exists
    hooks.on_assign = [this](const auto& p) { rebalance->on_assign(p); };
    hooks.on_revoke = [this](const auto& p, bool lost) { rebalance->on_revoke(p, lost); };
    hooks.on_error = [this](const KafkaFailure& err) { consume->on_error(err); };
    consumer = std::make_unique<Consumer>(cfg.kafka.brokers, cfg.kafka.group_id, cfg.kafka.properties, hooks);

    const auto executor_count = static_cast<std::size_t>(ExecutorPool::size(cfg));
    db_slots = std::make_unique<DbSlots>(cfg.database.url, cfg.database.timeout_ms, executor_count + 1, readiness);
    relay = std::make_unique<DeadLetterRelayLoop>(cfg, m, *producer, *db_slots, db_slots->at(executor_count),
                                                  readiness);
    executors = std::make_unique<ExecutorPool>(cfg, m, sched, completion, *publisher, *db_slots, readiness,
                                               [this] { relay->kick(); });
    committer = std::make_unique<Committer>(cfg.kafka, m, *consumer, book, readiness.stopping, stop);
    rebalance = std::make_unique<Rebalance>(cfg.shutdown_timeout_ms, m, sched, book, *committer, readiness, board,
                                            stop, [this](milliseconds t) { poll_producer(t); });
    consume = std::make_unique<ConsumeLoop>(
        cfg, m, *consumer, sched, book, readiness, board, [this](milliseconds t) { poll_producer(t); },
        [this] { update_gauges(); });
    lag = std::make_unique<LagProbe>(cfg.kafka, m, *consumer, book, readiness, board, consume->fetching_paused());
    topic_watch = std::make_unique<TopicWatch>(cfg.kafka, readiness.stopping);
    std::vector<std::string> topics;
    for (const auto& t : cfg.kafka.topics) topics.push_back(t.topic);
    consumer->subscribe(topics);
    return topics;
  }

  void run(const std::atomic<bool>& stop) {
    const auto topics = wire(stop);
    std::vector<std::thread> threads;
    const int executor_count = ExecutorPool::size(cfg);
    // Each on a thread named after its part, for top -H, perf and gdb (librdkafka names its own "rdk:...").
    const auto start = [&threads](std::string name, std::function<void()> body) {
      threads.emplace_back([name = std::move(name), body = std::move(body)] {
        runtime::name_this_thread(name);
        body();
      });
    };
    for (int i = 0; i < executor_count; ++i) start("ls-exec-" + std::to_string(i), [this, i] { executors->run(i); });
    start("ls-relay", [this] { relay->run(); });
    start("ls-commit", [this] { committer->loop(); });
    start("ls-db-watchdog", [this] { db_slots->watchdog_loop(); });
    start("ls-lag", [this] { lag->loop(); });
    start("ls-topic-watch", [this] { topic_watch->loop(); });
    runtime::name_this_thread("ls-consume");

    spdlog::info("worker started: group {}, topics {}, {} executors, batch {}{}", cfg.kafka.group_id,
                 fmt::join(topics, ","), executor_count, cfg.naive ? 1 : cfg.batch.max_events,
                 cfg.naive ? " (naive mode)" : "");
    consume->run(stop);
    shutdown(threads);
    if (consume->fatal()) throw KafkaError("fatal consumer error: " + consume->fatal_what());
  }

  // Stops the background threads once what is in flight is done or abandoned.
  std::size_t drain_and_stop(std::vector<std::thread>& threads, Clock::time_point started, milliseconds budget) {
    const auto drain_until = started + budget * 6 / 10;
    // The observers ask the broker nothing more: a question already asked
    // ends within its own timeout, before the join below unless the budget is
    // short and the broker silent (see docs/how-it-works.md, Shutdown).
    lag->leave();
    topic_watch->leave();
    consume->pause_all("shutdown");
    // Finish what is in flight while there is time (the database may be down).
    while (sched.size() > 0 && Clock::now() < drain_until) {
      auto m = consumer->poll(milliseconds(20));  // serves callbacks; late buffered messages are dropped below
      (void)m;
      poll_producer(milliseconds(0));
    }
    const auto abandoned = sched.drop_if([](const Work&) { return true; });
    const auto inflight_until = started + budget * 7 / 10;
    while (sched.in_flight() > 0 && Clock::now() < inflight_until) poll_producer(milliseconds(5));
    readiness.stopping = true;
    sched.close();
    relay->kick();
    committer->kick();
    db_slots->kick();
    lag->kick();
    topic_watch->kick();
    // Calls still waiting on the database now are abandoned: cut their
    // connections (the server rolls their transactions back; the events are
    // re-read on the next start) so that the threads can be joined in time.
    db_slots->watchdog_pass(true);
    for (auto& t : threads) t.join();
    return abandoned;
  }

  void shutdown(std::vector<std::thread>& threads) {
    const auto started = Clock::now();
    const auto budget = milliseconds(cfg.shutdown_timeout_ms);
    spdlog::info("shutting down: stop fetching, {} events in flight", sched.size());
    const auto abandoned = drain_and_stop(threads, started, budget);
    if (!committer->final_commit(started + budget * 3 / 4))
      spdlog::warn(
          "final offset commit not confirmed: the last completed events may be re-read (and skipped) on restart");
    const auto final_positions = book.positions();  // the book empties when close() revokes
    consumer->close(left_until(started + budget * 9 / 10));
    committer->confirm_after_close(final_positions, started + budget * 19 / 20);
    readiness.joined = false;
    if (producer) producer->flush(std::min(milliseconds(1000), left_until(started + budget)));
    spdlog::info("stopped in {} ms ({} queued events abandoned; they are re-read on the next start)",
                 std::chrono::duration_cast<milliseconds>(Clock::now() - started).count(), abandoned);
  }
};

Worker::Worker(Config cfg, std::shared_ptr<Metrics> metrics)
    : impl_(std::make_unique<Impl>(std::move(cfg), std::move(metrics))) {}
Worker::~Worker() = default;

void Worker::run(const std::atomic<bool>& stop) { impl_->run(stop); }

bool Worker::ready() const { return impl_->readiness.ready(); }

WorkerStatus Worker::status() const {
  WorkerStatus s;
  s.group_id = impl_->cfg.kafka.group_id;
  s.inflight = impl_->sched.size();
  s.oldest_inflight_seconds = impl_->sched.oldest_age().count();
  s.partitions = impl_->board.partitions();
  s.not_ready = impl_->readiness.not_ready();
  s.ready = s.not_ready.empty();
  return s;
}

}  // namespace lockstep
