// Worker runtime. Threads:
//  - the caller of run(): the only thread touching the Kafka consumer (poll,
//    pause/resume, commits, rebalance callbacks);
//  - database.pool_size executors: take batches of distinct keys from the
//    KeyScheduler, run them through the Engine on their own connection;
//  - one relay: drains the dead_letters outbox to the dead-letter topic.
#include "lockstep/worker.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "lockstep/backoff.hpp"
#include "lockstep/engine.hpp"
#include "lockstep/kafka.hpp"
#include "lockstep/offsets.hpp"
#include "lockstep/scheduler.hpp"
#include "lockstep/store.hpp"

namespace lockstep {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::string tp_name(const std::string& topic, int32_t p) { return topic + "/" + std::to_string(p); }

// Both sorted.
bool same_partitions(const std::vector<TopicPartition>& a, const std::vector<TopicPartition>& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

// The Producer's message.timeout.ms unless kafka.properties sets it: how long
// it keeps trying to deliver a message.
constexpr int kProducerMessageTimeoutMs = 30000;

// An outcome or dead-letter message the broker has not acknowledged after this
// long makes the worker not ready (the producer keeps trying meanwhile).
constexpr int kPublishStallMs = 10000;

// The broker counts as not answering (not ready) after this long without an
// answer to the lag thread's watermark queries.
constexpr int kBrokerStallMs = 5000;
// How long one synchronous offset commit waits for the coordinator's answer.
constexpr int kCommitWaitMs = 2000;

// Time left until `t`, at least `floor`: a last question still gets a moment.
std::chrono::milliseconds left_until(std::chrono::steady_clock::time_point t,
                                     std::chrono::milliseconds floor = std::chrono::milliseconds(100)) {
  return std::max(floor, std::chrono::duration_cast<std::chrono::milliseconds>(t - std::chrono::steady_clock::now()));
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

}  // namespace

struct Worker::Impl {
  Config cfg;
  std::shared_ptr<Metrics> metrics;
  KeyScheduler sched;

  // Offsets of assigned partitions. Guarded by book_mu (executors complete, the
  // consumer thread tracks and commits).
  struct PartState {
    PartitionOffsets offsets;
    uint64_t generation = 0;
    std::optional<int64_t> last_sent;
    Clock::time_point last_sent_at{};
  };
  std::mutex book_mu;
  std::map<TopicPartition, PartState> book;
  uint64_t next_generation = 1;

  std::atomic<bool> db_ok{false};
  std::atomic<bool> db_stalled{false};  // a database call has been waiting longer than it should
  std::atomic<bool> relay_ok{true};     // the dead-letter relay's last publish reached the broker
  std::atomic<bool> outcome_ok{true};   // the last outcome message reached the broker
  std::atomic<bool> broker_stalled{false};  // the lag loop's verdict, for its log lines
  // When the broker last answered a watermark query. Readiness reads it at any
  // time, so a question still waiting for its answer counts as silence too.
  std::atomic<Clock::rep> broker_answered_at{Clock::now().time_since_epoch().count()};
  std::atomic<bool> publish_stalled{false};  // an outcome or dead-letter message waits too long for its ack
  std::atomic<int64_t> relay_publishing_since_ms{0};  // steady clock; 0 when the relay is not publishing
  std::mutex pub_mu;                                   // pending_outcomes
  std::map<uint64_t, Clock::time_point> pending_outcomes;  // sent, not yet acknowledged (by send order)
  uint64_t next_outcome_seq = 0;
  std::atomic<bool> joined{false};      // consumer holds an assignment (set on the consumer thread)
  std::atomic<bool> stopping{false};     // executors/relay: leave their loops
  std::atomic<bool> fatal{false};
  std::string fatal_what;
  std::unique_ptr<Consumer> consumer;
  std::unique_ptr<Producer> producer;
  Waker relay_waker;
  Waker commit_waker;
  std::mutex commit_mu;  // one offset commit at a time (committer thread, rebalance, shutdown)
  const std::atomic<bool>* stop_requested = nullptr;  // run()'s flag: a rebalance callback stops waiting when set

  // One per thread that talks to the database (executors, relay): when its
  // current call started, and its store, so that the watchdog can cut a call
  // that waits on a database that stopped answering (a hang sends no error).
  struct DbSlot {
    std::mutex mu;  // store (the watchdog interrupts it while its owner may reset it)
    std::unique_ptr<Store> store;
    std::atomic<int64_t> busy_since_ms{0};  // steady clock, 0 when idle
  };
  std::deque<DbSlot> db_slots;  // stable addresses; sized before the threads start
  Waker watchdog_waker;

  Impl(Config c, std::shared_ptr<Metrics> m) : cfg(std::move(c)), metrics(std::move(m)) {}

  static int64_t now_ms() {
    return std::chrono::duration_cast<milliseconds>(Clock::now().time_since_epoch()).count();
  }

  Store& slot_store(DbSlot& slot) {
    if (!slot.store) {
      StoreOptions opts;
      opts.statement_timeout = milliseconds(std::max(250, cfg.database.timeout_ms - 500));
      auto st = open_store(cfg.database.url, opts);
      std::lock_guard lk(slot.mu);
      slot.store = std::move(st);
    }
    return *slot.store;
  }
  void slot_reset(DbSlot& slot) {
    std::lock_guard lk(slot.mu);
    slot.store.reset();
  }
  // Marks the slot busy for the duration of one database call.
  struct BusyScope {
    DbSlot& slot;
    explicit BusyScope(DbSlot& s) : slot(s) { slot.busy_since_ms = now_ms(); }
    ~BusyScope() { slot.busy_since_ms = 0; }
  };

  // Cuts every call that has waited longer than database.timeout_ms (the server's
  // statement_timeout answers first while the server still runs; this is for a
  // frozen server or a path that drops packets), and reports a stall as soon as
  // a call has waited half of it. With `all`, cuts every call at once (shutdown).
  void watchdog_pass(bool all) {
    const int64_t now = now_ms();
    const int64_t limit = cfg.database.timeout_ms;
    bool stalled = false;
    for (auto& slot : db_slots) {
      const int64_t since = slot.busy_since_ms.load();
      if (since == 0) continue;
      const int64_t waited = now - since;
      if (waited >= limit / 2) stalled = true;
      if (all || waited >= limit) {
        std::lock_guard lk(slot.mu);
        if (slot.store && slot.busy_since_ms.load() == since) {
          if (!all)
            spdlog::error("database call has not answered for {} ms (database.timeout_ms {}): cutting its connection",
                          waited, limit);
          slot.store->interrupt();
        }
      }
    }
    if (stalled && !db_stalled) spdlog::error("database is not answering: reporting not ready");
    db_stalled = stalled;
  }

  void watchdog_loop() {
    while (!stopping) {
      watchdog_pass(false);
      watchdog_waker.wait_for(milliseconds(250));
    }
  }

  // ---- executors -------------------------------------------------------
  void complete(WorkPtr w) {
    {
      std::lock_guard lk(book_mu);
      auto it = book.find(TopicPartition{w->src.topic, w->src.partition});
      if (it != book.end() && it->second.generation == w->generation) it->second.offsets.complete(w->src.offset);
    }
    sched.done(std::move(w));
  }

  bool current(const Work& w) {
    std::lock_guard lk(book_mu);
    auto it = book.find(TopicPartition{w.src.topic, w.src.partition});
    return it != book.end() && it->second.generation == w.generation;
  }

  void executor(int index, DbSlot& slot) {
    Engine engine(cfg, metrics.get(), std::random_device{}() + static_cast<uint64_t>(index));
    Backoff infra(milliseconds(100), milliseconds(5000));
    std::mt19937_64 rng(std::random_device{}());
    int failures = 0;
    const std::size_t max = cfg.naive ? 1 : static_cast<std::size_t>(cfg.batch.max_events);
    const milliseconds linger(cfg.naive ? 0 : cfg.batch.max_wait_ms);
    while (!stopping) {
      auto batch = sched.take_batch(max, milliseconds(200), linger);
      if (batch.empty()) continue;
      try {
        std::vector<ItemResult> results;
        {
          BusyScope busy(slot);
          results = engine.process(slot_store(slot), batch);
        }
        db_ok = true;
        failures = 0;
        finish(batch, results);
      } catch (const TransientStoreError& e) {
        slot_reset(slot);
        db_ok = false;
        metrics->infra_error("database");
        ++failures;
        const auto d = infra.delay(failures, rng);
        spdlog::error("database fault ({} events kept, retry in {} ms): {}", batch.size(), d.count(), e.what());
        for (auto& w : batch) {
          if (current(*w))
            sched.retry_later(std::move(w), d);
          else
            sched.done(std::move(w));  // partition revoked meanwhile: its new owner re-reads it
        }
      } catch (const std::exception& e) {
        // A bug, not a fault of the event or the database: keep the events, be loud.
        slot_reset(slot);
        db_ok = false;
        metrics->infra_error("database");
        ++failures;
        const auto d = infra.delay(failures, rng);
        spdlog::critical("unexpected error processing a batch of {} (retry in {} ms): {}", batch.size(), d.count(),
                         e.what());
        for (auto& w : batch) sched.retry_later(std::move(w), d);
      }
    }
  }

  void finish(std::vector<WorkPtr>& batch, const std::vector<ItemResult>& results) {
    bool any_dead = false;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      auto& w = batch[i];
      const auto& r = results[i];
      if (r.outcome == Outcome::retry) {
        if (current(*w))
          sched.retry_later(std::move(w), r.delay);
        else
          sched.done(std::move(w));
        continue;
      }
      const std::string reason = r.reason ? to_string(*r.reason) : "";
      metrics->outcome(to_string(r.outcome), reason);
      metrics->event_duration(std::chrono::duration<double>(Clock::now() - w->consumed_at).count());
      if (r.outcome == Outcome::dead_lettered) {
        any_dead = true;
        metrics->dead_letter(reason);
        spdlog::info("{}@{}: event {} dead-lettered: {}", tp_name(w->src.topic, w->src.partition), w->src.offset,
                     idempotency_key(*w), reason);
      } else {
        spdlog::debug("{}@{}: event {} {}", tp_name(w->src.topic, w->src.partition), w->src.offset,
                      idempotency_key(*w), to_string(r.outcome));
      }
      if (!cfg.kafka.outcome_topic.empty() && producer) {
        auto m = outcome_message(*w, r, cfg.kafka.outcome_topic);
        publish_outcome(std::move(w), m);
        continue;
      }
      complete(std::move(w));
    }
    if (any_dead) relay_waker.kick();
  }

  // One outcome message per event (contract §1): the event counts as done, and
  // its offset may be committed, only once the broker has the message. When the
  // publish fails the event goes round again; its outcome is durable by now, so
  // it comes back as a duplicate whose message carries that first outcome.
  void publish_outcome(WorkPtr w, const OutMessage& m) {
    Work* raw = w.release();
    uint64_t seq = 0;
    {
      std::lock_guard lk(pub_mu);
      seq = next_outcome_seq++;
      pending_outcomes.emplace(seq, Clock::now());
    }
    producer->send_async(m, [this, raw, seq](const Delivery& d) {
      WorkPtr w(raw);
      {
        std::lock_guard lk(pub_mu);
        pending_outcomes.erase(seq);
      }
      if (d.error.empty()) {
        outcome_ok = true;
        complete(std::move(w));
        return;
      }
      outcome_ok = false;
      metrics->infra_error("kafka");
      spdlog::error("{}@{}: outcome of event {} not published, the event goes again: {}",
                    tp_name(w->src.topic, w->src.partition), w->src.offset, idempotency_key(*w), d.error);
      if (current(*w))
        sched.retry_later(std::move(w), milliseconds(1000));
      else
        sched.done(std::move(w));
    });
  }

  // Serves outcome delivery reports (they complete events).
  void poll_producer(milliseconds timeout) {
    if (producer && !cfg.kafka.outcome_topic.empty())
      producer->poll(timeout);
    else if (timeout.count() > 0)
      std::this_thread::sleep_for(timeout);
  }

  // ---- dead-letter relay ------------------------------------------------
  // The largest dead-letter message the cluster takes: the producer's
  // message.max.bytes, or the topic's max.message.bytes (the broker's own
  // limit, which it applies to a record batch) when that is smaller. A
  // broker that does not answer DescribeConfigs (the development broker)
  // leaves the producer's.
  std::size_t dead_letter_limit() {
    std::size_t limit = max_message_bytes(cfg.kafka.properties);
    try {
      Admin admin(cfg.kafka.brokers, cfg.kafka.properties);
      const auto configs = admin.configs(cfg.kafka.dead_letter_topic, milliseconds(5000));
      if (const auto it = configs.find("max.message.bytes"); it != configs.end()) {
        const auto topic_limit = static_cast<std::size_t>(std::stoull(it->second.value));
        if (topic_limit < limit) {
          spdlog::info("dead-letter messages are kept under {} bytes, the max.message.bytes of topic {}",
                       topic_limit, cfg.kafka.dead_letter_topic);
          limit = topic_limit;
        }
      }
    } catch (const std::exception& e) {
      spdlog::debug("the dead-letter topic's max.message.bytes is not known ({}): messages are kept under "
                    "the producer's message.max.bytes, {} bytes",
                    e.what(), limit);
    }
    return limit;
  }

  void relay_loop(DbSlot& slot) {
    // The relay waits for delivery reports up to the producer's message timeout,
    // so that a message it gave up on is not delivered behind its back (which
    // would publish it twice); shutdown cuts the wait short.
    DeadLetterRelay relay(*producer, cfg.kafka.dead_letter_topic, metrics.get(), dead_letter_limit(),
                          producer_timeout() + milliseconds(2000));
    // A refusal can mean the topic's limit changed: read it again, at most once a minute.
    auto limit_read_at = Clock::now();
    Backoff infra(milliseconds(100), milliseconds(5000));
    std::mt19937_64 rng(std::random_device{}());
    int failures = 0;
    bool warned_schema = false;
    while (!stopping) {
      bool more = false;
      try {
        if (!slot.store) {
          BusyScope busy(slot);
          const int v = slot_store(slot).schema_version();
          if (v < latest_schema_version()) {
            if (!warned_schema)
              spdlog::error("database schema is at version {}, this build needs {}: run `lockstep migrate up`", v,
                            latest_schema_version());
            warned_schema = true;
            throw TransientStoreError("schema not migrated");
          }
        }
        DeadLetterRelay::Pass pass;
        {
          BusyScope busy(slot);
          // Waiting for the broker is not waiting for the database: the
          // watchdog does not count the publish, the publish stall check does.
          pass = relay.run_once(*slot.store, 100, &stopping, [&](bool publishing) {
            if (publishing) {
              slot.busy_since_ms = 0;
              relay_publishing_since_ms = now_ms();
            } else {
              relay_publishing_since_ms = 0;
              slot.busy_since_ms = now_ms();
            }
          });
        }
        db_ok = true;
        if (pass.broker_failed) {
          // Nothing reached the broker: an infrastructure fault, not a verdict on the rows.
          relay_ok = false;
          ++failures;
          const auto d = infra.delay(failures, rng);
          spdlog::error("dead-letter relay: broker did not take {} message(s), retry in {} ms: {}", pass.selected,
                        d.count(), pass.last_error);
          relay_waker.wait_for(d);
          continue;
        }
        relay_ok = true;
        failures = 0;
        more = pass.selected == 100;
        if (pass.deferred > 0 && Clock::now() - limit_read_at >= milliseconds(60000)) {
          relay.set_max_bytes(dead_letter_limit());
          limit_read_at = Clock::now();
        }
      } catch (const TransientStoreError& e) {
        slot_reset(slot);
        db_ok = false;
        metrics->infra_error("database");
        ++failures;
        spdlog::error("dead-letter relay: {}", e.what());
        relay_waker.wait_for(infra.delay(failures, rng));
        continue;
      } catch (const std::exception& e) {
        slot_reset(slot);
        ++failures;
        spdlog::error("dead-letter relay: {}", e.what());
        relay_waker.wait_for(infra.delay(failures, rng));
        continue;
      }
      if (!more) relay_waker.wait_for(milliseconds(500));
    }
  }

  milliseconds producer_timeout() const {
    return milliseconds(int_property(cfg.kafka.properties, "message.timeout.ms", kProducerMessageTimeoutMs));
  }

  // How long a watermark query may take. It shares the leader's connection
  // with fetches, and a broker answers a connection's requests in order: a
  // fetch waiting for data (up to fetch.wait.max.ms) delays the answer.
  milliseconds watermark_timeout() const {
    return milliseconds(2 * int_property(cfg.kafka.properties, "fetch.wait.max.ms", 500) + 3000);
  }

  // ---- committer ---------------------------------------------------------
  // Commits every 200 ms off the consumer thread: a synchronous commit waits
  // for the group coordinator (up to kCommitWaitMs, then it is left
  // outstanding and the next one waits for it), and the consumer must keep
  // polling meanwhile (session, errors, fetching).
  void committer_loop() {
    while (!stopping) {
      commit(false, nullptr, milliseconds(kCommitWaitMs));
      commit_waker.wait_for(milliseconds(200));
    }
  }

  // ---- consumer thread ---------------------------------------------------
  void on_assign(const std::vector<TopicPartition>& parts) {
    joined = true;
    std::lock_guard lk(book_mu);
    for (const auto& p : parts) {
      PartState st;
      st.generation = next_generation++;
      book[TopicPartition{p.topic, p.partition}] = std::move(st);
      spdlog::info("assigned {}", tp_name(p.topic, p.partition));
    }
  }

  void on_revoke(const std::vector<TopicPartition>& parts, bool lost) {
    std::set<TopicPartition> revoked;
    for (const auto& p : parts) revoked.insert(TopicPartition{p.topic, p.partition});
    if (revoked.empty()) return;  // cooperative-sticky: nothing of ours moves
    const auto is_revoked = [&](const Work& w) { return revoked.count(TopicPartition{w.src.topic, w.src.partition}) > 0; };
    const auto dropped = sched.drop_if(is_revoked);
    // Let the revoked partitions' events already running finish so their
    // outcomes count in the final commit. Only theirs: with cooperative-sticky
    // the partitions that stay keep running, and their queue may never drain.
    // While stopping, shutdown() has already waited for what runs.
    const auto deadline = Clock::now() + milliseconds(stopping ? 0 : std::min(cfg.shutdown_timeout_ms, 10000));
    while (sched.in_flight_if(is_revoked) > 0 && Clock::now() < deadline && !stop_asked())
      poll_producer(milliseconds(5));
    // Events that failed meanwhile went back to wait: they belong to the next owner now.
    sched.drop_if(is_revoked);
    if (lost) {
      // The group gave these partitions away already (this member missed its
      // session timeout): a commit would be refused, the next owner re-reads
      // from the last commit, and outcomes already recorded make it a no-op.
      spdlog::warn("partitions lost to the group (session timeout missed): their last events are re-read by the "
                   "next owner");
    } else {
      // Inside the rebalance callback: no poll(); librdkafka looks up the coordinator itself.
      // While stopping, shutdown() has already retried: one attempt is enough.
      const auto commit_deadline = stopping ? Clock::now() : std::max(deadline, Clock::now() + milliseconds(2000));
      if (!commit_until(commit_deadline, &revoked, false))
        spdlog::warn("final offset commit for revoked partitions failed: the next owner re-reads their last events");
    }
    std::lock_guard lk(book_mu);
    for (const auto& tp : revoked) {
      book.erase(tp);
      metrics->remove_lag(tp.topic, tp.partition);  // its lag is the next owner's to report
      metrics->set_paused(tp.topic, tp.partition, "");
      spdlog::info("revoked {} ({} queued events released to the next owner)", tp_name(tp.topic, tp.partition),
                   dropped);
    }
  }

  // Sends the positions below every completed event, synchronously: with at
  // most one commit outstanding, librdkafka never holds an older commit that
  // it could send after a newer one (it defers commits while it looks for the
  // coordinator, and sends deferred ones as late as close()). `all`: also
  // positions already sent. Returns false when the commit failed.
  // Waits at most `timeout`, for the lock and the coordinator's answer together.
  bool commit(bool all, const std::set<TopicPartition>* only, milliseconds timeout) {
    const auto until = Clock::now() + timeout;
    // Not std::timed_mutex: ThreadSanitizer does not see its timed lock
    // (pthread_mutex_clocklock) and reports every unlock. Contention is rare
    // (a rebalance or shutdown meeting the committer thread).
    while (!commit_mu.try_lock()) {
      if (Clock::now() >= until) return false;
      std::this_thread::sleep_for(milliseconds(5));
    }
    std::unique_lock commit_lk(commit_mu, std::adopt_lock);
    std::vector<TopicPartition> positions;
    {
      std::lock_guard lk(book_mu);
      for (auto& [tp, st] : book) {
        if (only && !only->count(tp)) continue;
        auto pos = st.offsets.position();
        if (!pos) continue;
        // An unchanged position is sent again every 2 s, so that the group's
        // position cannot stay behind whatever else moved it.
        if (!all && st.last_sent && *st.last_sent == *pos && Clock::now() - st.last_sent_at < milliseconds(2000))
          continue;
        positions.push_back({tp.topic, tp.partition, *pos});
        st.last_sent = pos;
        st.last_sent_at = Clock::now();
      }
    }
    if (positions.empty()) return true;
    const auto err = consumer->commit(positions, /*async=*/false, left_until(until, milliseconds(1)));
    if (!err.empty()) {
      metrics->infra_error("kafka");
      spdlog::warn("offset commit failed ({}), will retry: {}", positions.size(), err);
      std::lock_guard lk(book_mu);
      for (const auto& p : positions) {
        auto it = book.find(p);
        if (it != book.end()) it->second.last_sent.reset();
      }
      return false;
    }
    for (const auto& p : positions)
      spdlog::debug("committed {}@{}", tp_name(p.topic, p.partition), p.offset);
    return true;
  }

  // librdkafka can still send a commit it deferred earlier while it closes,
  // moving the group back behind events that have durable outcomes. Read the
  // group's positions back once more and move any that fell behind forward
  // again (never backward). Outside the group this commit is accepted only
  // while the group is empty, so it cannot overwrite a new owner's progress.
  void confirm_after_close(const std::vector<TopicPartition>& mine, Clock::time_point deadline) {
    if (mine.empty()) return;
    try {
      Consumer probe(cfg.kafka.brokers, cfg.kafka.group_id, cfg.kafka.properties, {});
      struct Close {  // within the deadline, also when it throws
        Consumer& c;
        Clock::time_point until;
        ~Close() { c.close(left_until(until)); }
      } close{probe, deadline};
      for (;;) {
        std::vector<TopicPartition> behind;
        for (const auto& c : probe.committed(mine, std::min(milliseconds(2000), left_until(deadline)))) {
          const auto it = std::find(mine.begin(), mine.end(), c);
          if (it != mine.end() && c.offset < it->offset) behind.push_back(*it);
        }
        if (behind.empty()) return;
        spdlog::warn("{} partition(s) fell behind their final commit while closing: committing them again",
                     behind.size());
        const auto err = probe.commit(behind, false, left_until(deadline));
        if (!err.empty() || Clock::now() >= deadline) {
          if (!err.empty()) spdlog::warn("re-commit after close refused: {}", err);
          return;
        }
      }
    } catch (const KafkaError& e) {
      spdlog::warn("cannot confirm the final offsets after closing: {}", e.what());
    }
  }

  // The position below every completed event, per assigned partition.
  std::vector<TopicPartition> current_positions() {
    std::vector<TopicPartition> out;
    std::lock_guard lk(book_mu);
    for (auto& [tp, st] : book)
      if (auto pos = st.offsets.position()) out.push_back({tp.topic, tp.partition, *pos});
    return out;
  }

  // Whether the group coordinator holds every position this worker would commit now.
  bool coordinator_has_positions(milliseconds timeout) {
    const auto mine = current_positions();
    if (mine.empty()) return true;
    try {
      for (const auto& c : consumer->committed(mine, timeout)) {
        const auto it = std::find(mine.begin(), mine.end(), c);
        if (it == mine.end() || c.offset != it->offset) {
          spdlog::warn("committed position of {} is {}, expected {}: committing again", tp_name(c.topic, c.partition),
                       c.offset, it == mine.end() ? -1 : it->offset);
          return false;
        }
      }
      return true;
    } catch (const KafkaError& e) {
      spdlog::warn("cannot read back committed offsets: {}", e.what());
      return false;
    }
  }

  // Synchronous commit, retried until it succeeds or the deadline passes: the
  // last commit before leaving must not be lost to a transient coordinator error.
  bool commit_until(Clock::time_point deadline, const std::set<TopicPartition>* only, bool may_poll) {
    for (;;) {
      // At least a short wait for the answer, also past the deadline: one
      // attempt is always made. A stop asked for meanwhile ends the retries.
      if (commit(true, only, std::min(left_until(deadline, milliseconds(200)), milliseconds(kCommitWaitMs)))) return true;
      if (Clock::now() >= deadline || (!stopping && stop_asked())) return false;
      if (may_poll) (void)consumer->poll(milliseconds(50));  // serves coordinator lookups and callbacks
      else std::this_thread::sleep_for(milliseconds(50));
    }
  }

  void handle(Message&& m) {
    metrics->consumed(m.topic);
    auto w = std::make_unique<Work>();
    w->src.topic = m.topic;
    w->src.source = cfg.source_of(m.topic);
    w->src.partition = m.partition;
    w->src.offset = m.offset;
    w->src.timestamp_ms = m.timestamp_ms;
    w->kafka_key = std::move(m.key);
    w->value = std::move(m.value);
    w->headers = std::move(m.headers);
    w->consumed_at = Clock::now();
    ParseLimits limits;
    limits.max_event_bytes = cfg.limits.max_event_bytes;
    limits.max_depth = cfg.limits.max_depth;
    w->parsed = parse_event(w->value, w->kafka_key, limits);
    w->lane_key = lane_key_for(w->parsed, w->src);
    if (const auto* bad = std::get_if<Malformed>(&w->parsed))
      spdlog::info("{}@{}: malformed event: {}", tp_name(m.topic, m.partition), m.offset, bad->detail);
    {
      std::lock_guard lk(book_mu);
      auto it = book.find(TopicPartition{m.topic, m.partition});
      if (it == book.end()) return;  // not ours (any more)
      it->second.offsets.track(m.offset);
      w->generation = it->second.generation;
    }
    sched.push(std::move(w));
  }

  // What /readyz answers: the database answered last time and no call is stuck
  // waiting on it, the broker took the last dead letters and outcomes, the
  // consumer holds an assignment, not stopping.
  bool is_ready() const {
    return db_ok.load() && !db_stalled.load() && relay_ok.load() && outcome_ok.load() && !broker_silent() &&
           !publish_stalled.load() && joined.load() && !stopping.load();
  }

  void heard_from_broker() { broker_answered_at = Clock::now().time_since_epoch().count(); }
  bool stop_asked() const { return stop_requested && *stop_requested; }

  bool broker_silent() const {
    const Clock::time_point answered{Clock::duration{broker_answered_at.load()}};
    return Clock::now() - answered >= milliseconds(kBrokerStallMs);
  }

  // An outcome or dead-letter message the broker has not acknowledged for
  // kPublishStallMs: not ready (the producer keeps trying).
  void check_publish_stall() {
    const auto now = Clock::now();
    bool stalled = false;
    {
      std::lock_guard lk(pub_mu);
      if (!pending_outcomes.empty() && now - pending_outcomes.begin()->second >= milliseconds(kPublishStallMs))
        stalled = true;
    }
    const int64_t since = relay_publishing_since_ms.load();
    if (since != 0 && now_ms() - since >= kPublishStallMs) stalled = true;
    if (stalled && !publish_stalled)
      spdlog::error("the broker has not acknowledged an outcome or dead-letter message for {} ms: reporting not ready",
                    kPublishStallMs);
    else if (!stalled && publish_stalled)
      spdlog::info("outcome and dead-letter messages are acknowledged again");
    publish_stalled = stalled;
  }

  void update_gauges() {
    check_publish_stall();
    metrics->set_ready(is_ready());
    metrics->set_inflight(static_cast<double>(sched.size()));
    metrics->set_oldest_inflight(sched.oldest_age().count());
  }

  // ---- lag -----------------------------------------------------------------
  // Lag of every assigned partition, whether or not anything was consumed from
  // it: the broker's high watermark minus the position below which every event
  // has an outcome (or, before the first event, the group's committed offset,
  // else the low watermark: where auto.offset.reset=earliest starts). A paused
  // partition fetches nothing, so its watermark is asked of the broker; for the
  // others the one from the last fetch response is used. Off the consumer
  // thread: a watermark query can wait for a broker that does not answer.
  std::atomic<bool> fetching_paused{false};
  Waker lag_waker;

  void lag_loop() {
    std::map<TopicPartition, std::pair<uint64_t, int64_t>> start_of;  // tp -> (generation, committed offset or -1)
    // The broker's answers here are also the worker's evidence that the broker
    // answers at all: a path that drops packets sends no error for a long time.
    // (Every pass asks at least one question, see below.)
    std::size_t probe = 0;  // one fetched partition is asked each pass, in turn
    while (!stopping) {
      struct Row {
        TopicPartition tp;
        uint64_t generation;
        std::optional<int64_t> pos;
      };
      std::vector<Row> rows;
      {
        std::lock_guard lk(book_mu);
        for (auto& [tp, st] : book) rows.push_back({tp, st.generation, st.offsets.position()});
      }
      std::vector<TopicPartition> unknown;
      for (const auto& r : rows) {
        const auto it = start_of.find(r.tp);
        if (!r.pos && (it == start_of.end() || it->second.first != r.generation)) unknown.push_back(r.tp);
      }
      if (!unknown.empty()) {
        try {
          for (const auto& c : consumer->committed(unknown, milliseconds(2000)))
            for (const auto& r : rows)
              if (r.tp == c) start_of[c] = {r.generation, c.offset};
        } catch (const KafkaError& e) {
          spdlog::debug("lag: committed offsets not available: {}", e.what());
        }
      }
      const bool paused_now = fetching_paused.load();
      ++probe;
      bool answered = false, failed = false;  // after one unanswered query, ask nothing more this pass
      for (std::size_t i = 0; i < rows.size(); ++i) {
        const auto& r = rows[i];
        if (stopping) break;
        std::optional<int64_t> hw, lo;
        if (!paused_now && i != probe % rows.size()) hw = consumer->high_watermark(r.tp.topic, r.tp.partition);
        const auto start_it = start_of.find(r.tp);
        const bool need_low = !r.pos && (start_it == start_of.end() || start_it->second.second < 0);
        if ((!hw || need_low) && !failed) {
          // The low watermark only where nothing else says where reading starts:
          // each question may wait behind a fetch on the leader's connection.
          bool got = false;
          if (need_low) {
            if (auto wm = consumer->query_watermarks(r.tp.topic, r.tp.partition, watermark_timeout())) {
              lo = wm->first;
              hw = wm->second;
              got = true;
            }
          } else if (auto high = consumer->query_high_watermark(r.tp.topic, r.tp.partition, watermark_timeout())) {
            hw = *high;
            got = true;
          }
          if (got) {
            answered = true;
            heard_from_broker();
          } else {
            failed = true;
          }
        }
        if (!hw) continue;
        int64_t start = -1;
        if (r.pos) {
          start = *r.pos;
        } else if (auto it = start_of.find(r.tp); it != start_of.end() && it->second.second >= 0) {
          start = it->second.second;
        } else if (lo) {
          start = *lo;
        } else {
          continue;
        }
        std::lock_guard lk(book_mu);  // the partition may have been revoked meanwhile (its series removed)
        const auto it = book.find(r.tp);
        if (it != book.end() && it->second.generation == r.generation)
          metrics->set_lag(r.tp.topic, r.tp.partition, static_cast<double>(std::max<int64_t>(0, *hw - start)));
      }
      for (auto it = start_of.begin(); it != start_of.end();) {
        const bool assigned = std::any_of(rows.begin(), rows.end(), [&](const Row& r) { return r.tp == it->first; });
        it = assigned ? std::next(it) : start_of.erase(it);
      }
      // With nothing to ask (no assignment, all fetched), partition 0 of an
      // input topic is asked in turn: the broker must answer something.
      if (!answered && !failed && !stopping && !cfg.kafka.topics.empty()) {
        const auto& topic = cfg.kafka.topics[probe % cfg.kafka.topics.size()].topic;
        if (consumer->query_high_watermark(topic, 0, watermark_timeout())) heard_from_broker();
      }
      const bool stalled = broker_silent();
      if (stalled && !broker_stalled) {
        metrics->infra_error("kafka");
        spdlog::error("the broker has not answered for {} ms: reporting not ready", kBrokerStallMs);
      } else if (!stalled && broker_stalled) {
        spdlog::info("the broker answers again");
      }
      broker_stalled = stalled;
      lag_waker.wait_for(milliseconds(stalled ? 1000 : 2000));
    }
  }

  // Says which configured topics the cluster does not have: at start-up, and
  // every 30 s until each exists (then says that too). Without it a worker
  // subscribed to a missing topic waits without a word: librdkafka only
  // retries its metadata. The cluster not answering is the lag probe's to
  // report, not this check's.
  Waker topic_waker;
  void topic_watch_loop() {
    const auto wanted = configured_topics(cfg.kafka);
    std::vector<std::string> names;
    for (const auto& w : wanted) names.push_back(w.topic);
    std::set<std::string> reported;  // missing, and said so
    std::unique_ptr<Admin> admin;
    while (!stopping) {
      try {
        if (!admin) admin = std::make_unique<Admin>(cfg.kafka.brokers, cfg.kafka.properties);
        const auto described = admin->describe(names, milliseconds(3000));
        bool all = true;
        for (std::size_t i = 0; i < wanted.size(); ++i) {
          const auto& [topic, role] = wanted[i];
          if (described[i].exists) {
            if (reported.erase(topic)) spdlog::info("kafka: the {} topic {} exists now", role, topic);
            continue;
          }
          all = false;
          if (!reported.insert(topic).second) continue;
          spdlog::error("kafka: the {} topic {} does not exist on the cluster: {} until it is created "
                        "(`lockstep topics ensure` creates every configured topic; checked again every 30 s)",
                        role, topic,
                        role == "input"         ? "nothing is consumed from it"
                        : role == "dead-letter" ? "dead letters are kept in the table but not published"
                                                : "outcome messages cannot be published, so events wait");
        }
        if (all) return;
      } catch (const KafkaError& e) {
        spdlog::debug("kafka: configured topics not checked: {}", e.what());
      }
      topic_waker.wait_for(milliseconds(30000));
    }
  }

  // The paused partitions and why, for lockstep_partition_paused.
  void publish_pause_state(const std::vector<TopicPartition>& assignment, const std::string& reason) {
    fetching_paused = !reason.empty();
    for (const auto& tp : assignment) metrics->set_paused(tp.topic, tp.partition, reason);
  }

  void run(const std::atomic<bool>& stop) {
    stop_requested = &stop;
    producer = std::make_unique<Producer>(cfg.kafka.brokers, cfg.kafka.properties);
    Consumer::Hooks hooks;
    hooks.on_assign = [this](const auto& p) { on_assign(p); };
    hooks.on_revoke = [this](const auto& p, bool lost) { on_revoke(p, lost); };
    hooks.on_error = [this](const std::string& what, bool is_fatal) {
      metrics->infra_error("kafka");
      spdlog::warn("kafka: {}", what);
      if (is_fatal) {
        fatal_what = what;
        fatal = true;
      }
    };
    consumer = std::make_unique<Consumer>(cfg.kafka.brokers, cfg.kafka.group_id, cfg.kafka.properties, hooks);
    std::vector<std::string> topics;
    for (const auto& t : cfg.kafka.topics) topics.push_back(t.topic);
    consumer->subscribe(topics);

    std::vector<std::thread> threads;
    const int executors = cfg.naive ? 1 : cfg.database.pool_size;
    db_slots.resize(static_cast<std::size_t>(executors) + 1);
    for (int i = 0; i < executors; ++i)
      threads.emplace_back([this, i] { executor(i, db_slots[static_cast<std::size_t>(i)]); });
    threads.emplace_back([this] { relay_loop(db_slots.back()); });
    threads.emplace_back([this] { committer_loop(); });
    threads.emplace_back([this] { watchdog_loop(); });
    threads.emplace_back([this] { lag_loop(); });
    threads.emplace_back([this] { topic_watch_loop(); });

    spdlog::info("worker started: group {}, topics {}, {} executors, batch {}{}", cfg.kafka.group_id,
                 fmt::join(topics, ","), executors, cfg.naive ? 1 : cfg.batch.max_events,
                 cfg.naive ? " (naive mode)" : "");

    bool paused = false;
    std::string pause_reason;  // published in lockstep_partition_paused
    std::vector<TopicPartition> assigned_seen;
    auto last_gauges = Clock::now();
    const auto max_inflight = static_cast<std::size_t>(cfg.limits.max_inflight);
    while (!stop && !fatal) {
      // Backpressure and fault handling: stop fetching while too much is in
      // flight or the database is down; resume when it drains / recovers.
      // An infrastructure fault stops fetching while events wait for it (the
      // database, an outcome message) or while dead letters cannot be published.
      const auto inflight = sched.size();
      const bool db_fault = (!db_ok || db_stalled) && inflight > 0;
      const bool broker_fault = !relay_ok || ((!outcome_ok || publish_stalled) && inflight > 0);
      const bool want_pause = inflight >= max_inflight || db_fault || broker_fault;
      const bool want_resume = inflight < max_inflight / 2 && !db_fault && !broker_fault;
      const std::string reason = inflight >= max_inflight ? "backpressure"
                                 : db_fault               ? "database"
                                 : broker_fault           ? "broker"
                                                          : (paused ? pause_reason : "");
      auto assignment = consumer->assignment();
      std::sort(assignment.begin(), assignment.end());
      if (!same_partitions(assignment, assigned_seen)) {
        // librdkafka keeps its pause flag on a partition across unassign and a
        // later assign, so a partition given back after a rebalance can still be
        // paused from before: set every assigned partition to the state wanted now.
        assigned_seen = assignment;
        if (paused)
          consumer->pause(assignment);
        else
          consumer->resume(assignment);
        publish_pause_state(assignment, paused ? pause_reason : "");
      }
      if (!paused && want_pause) {
        consumer->pause(assignment);
        paused = true;
        pause_reason = reason;
        publish_pause_state(assignment, pause_reason);
        spdlog::info("fetching paused: {} ({} events in flight)", reason, inflight);
      } else if (paused && want_resume) {
        consumer->resume(assignment);
        paused = false;
        pause_reason.clear();
        publish_pause_state(assignment, "");
        spdlog::info("fetching resumed");
      } else if (paused && reason != pause_reason) {
        pause_reason = reason;
        publish_pause_state(assignment, pause_reason);
      }
      // Drain what librdkafka has buffered, even while paused (bounded by its queue).
      for (int i = 0; i < 1000; ++i) {
        auto m = consumer->poll(i == 0 ? milliseconds(50) : milliseconds(0));
        if (!m) break;
        handle(std::move(*m));
      }
      poll_producer(milliseconds(0));
      const auto now = Clock::now();
      if (now - last_gauges >= milliseconds(1000)) {
        update_gauges();
        last_gauges = now;
      }
    }
    shutdown(threads);
    if (fatal) throw KafkaError("fatal consumer error: " + fatal_what);
  }

  void shutdown(std::vector<std::thread>& threads) {
    const auto started = Clock::now();
    const auto budget = milliseconds(cfg.shutdown_timeout_ms);
    const auto drain_until = started + budget * 6 / 10;
    spdlog::info("shutting down: stop fetching, {} events in flight", sched.size());
    {
      const auto assignment = consumer->assignment();
      consumer->pause(assignment);
      publish_pause_state(assignment, "shutdown");
    }
    // Finish what is in flight while there is time (the database may be down).
    while (sched.size() > 0 && Clock::now() < drain_until) {
      auto m = consumer->poll(milliseconds(20));  // serves callbacks; late buffered messages are dropped below
      (void)m;
      poll_producer(milliseconds(0));
    }
    const auto abandoned = sched.drop_if([](const Work&) { return true; });
    const auto inflight_until = started + budget * 7 / 10;
    while (sched.in_flight() > 0 && Clock::now() < inflight_until) poll_producer(milliseconds(5));
    stopping = true;
    sched.close();
    relay_waker.kick();
    commit_waker.kick();
    watchdog_waker.kick();
    lag_waker.kick();
    topic_waker.kick();
    // Calls still waiting on the database now are abandoned: cut their
    // connections (the server rolls their transactions back; the events are
    // re-read on the next start) so that the threads can be joined in time.
    watchdog_pass(true);
    for (auto& t : threads) t.join();
    // The final commit, read back: a commit librdkafka deferred while the
    // coordinator was away can land after a newer one and move the group's
    // position back, so commit again until the coordinator holds ours.
    const auto commit_deadline = started + budget * 3 / 4;
    bool committed = false;
    while (!committed) {
      committed = commit_until(commit_deadline, nullptr, true) &&
                  coordinator_has_positions(std::min(milliseconds(2000), left_until(commit_deadline)));
      if (committed || Clock::now() >= commit_deadline) break;
      (void)consumer->poll(milliseconds(50));
    }
    if (!committed)
      spdlog::warn("final offset commit not confirmed: the last completed events may be re-read (and skipped) on restart");
    const auto final_positions = current_positions();  // the book empties when close() revokes
    consumer->close(left_until(started + budget * 9 / 10));
    confirm_after_close(final_positions, started + budget * 19 / 20);
    joined = false;
    if (producer) producer->flush(std::min(milliseconds(1000), left_until(started + budget)));
    spdlog::info("stopped in {} ms ({} queued events abandoned; they are re-read on the next start)",
                 std::chrono::duration_cast<milliseconds>(Clock::now() - started).count(), abandoned);
  }
};

Worker::Worker(Config cfg, std::shared_ptr<Metrics> metrics)
    : impl_(std::make_unique<Impl>(std::move(cfg), std::move(metrics))) {}
Worker::~Worker() = default;

void Worker::run(const std::atomic<bool>& stop) { impl_->run(stop); }

bool Worker::ready() const { return impl_->is_ready(); }

}  // namespace lockstep
