// The whole worker in process, on the development broker (librdkafka's mock
// cluster) or the real Apache Kafka node (test::TestKafka), and a real
// PostgreSQL: the fixture of worker_test (under ThreadSanitizer in CI) and
// worker_shutdown_test (under AddressSanitizer).
#pragma once

#include <gtest/gtest.h>

#include <spdlog/spdlog.h>

#include <atomic>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "lockstep/kafka.hpp"
#include "lockstep/test/end_to_end.hpp"
#include "lockstep/test/events.hpp"
#include "lockstep/test/kafka.hpp"
#include "lockstep/test/support.hpp"
#include "worker.hpp"

namespace lockstep {

using namespace std::chrono_literals;
using test::poll_until;

// PREFIX then N, built by appending: a short literal + std::to_string(n) trips
// GCC 12's false -Wrestrict at -O3 (GCC bug 105329), and Release builds with -Werror.
inline std::string numbered(std::string_view prefix, long long n) {
  std::string s(prefix);
  s += std::to_string(n);
  return s;
}

// The tests' events (actor "t"), `extra` members appended as they are.
inline std::string event_json(const std::string& id, const std::string& agg, const std::string& transition,
                              const std::string& extra = "") {
  return test::event(id, agg, transition).actor("t").raw(extra);
}

// The worker in process on the fixture's development broker (in process too)
// or the real node, and its database.
class WorkerTest : public test::EndToEndTest {
 protected:
  static constexpr int kPartitions = 4;  // of each input topic
  explicit WorkerTest(int brokers = 1) : EndToEndTest(Options{Broker::in_process, kPartitions, brokers, "wt-"}) {}
  void SetUp() override {
    // spdlog's registry is built on first use; build it here, before any worker
    // thread, so two workers' first log lines do not race to construct it.
    spdlog::default_logger();
    // Fewer connections, quicker retries and smaller batches than a worker process gets.
    cfg.database.pool_size = 2;
    cfg.retry.base_delay_ms = 1;
    cfg.retry.max_delay_ms = 20;
    cfg.retry.max_attempts = 8;
    cfg.batch.max_events = 64;
    cfg.batch.max_wait_ms = 2;
    cfg.shutdown_timeout_ms = 5000;
    cfg.limits.max_event_bytes = 4096;
  }

  void start() {
    worker = std::make_unique<Worker>(cfg, metrics);
    thread = std::thread([this] {
      try {
        worker->run(stop);
      } catch (const std::exception& e) {
        ADD_FAILURE() << "worker failed: " << e.what();
      }
      returned = true;
    });
  }

  void TearDown() override {
    if (thread.joinable()) {
      stop = true;
      thread.join();
    }
  }

  void send(Producer& p, const std::string& topic, const std::string& value, std::optional<std::string> key,
            std::vector<Header> headers = {}) {
    OutMessage m{topic, std::move(key), value, std::move(headers)};
    auto d = p.send({m}, 10s);
    ASSERT_FALSE(d[0].error) << d[0].error.str();
  }

  // After the worker stopped: how many input events a new member of the group
  // reads before the markers sent now, one at the end of every input partition
  // (auto.offset.reset=earliest, so every event whose offset was not committed
  // shows up; a partition's events all come before its marker, and reading
  // stops only once every partition's marker arrived). -1 if one never does.
  int reread_by_new_member(Producer& p) {
    std::vector<OutMessage> markers;
    std::set<std::pair<std::string, int32_t>> pending;
    for (const auto& topic : {bot, api})
      for (int32_t part = 0; part < kPartitions; ++part) {
        markers.push_back({topic, std::string("membership:marker"), "marker", {}});
        markers.back().partition = part;
        pending.emplace(topic, part);
      }
    for (const auto& d : p.send(markers, 10s))
      if (d.error) ADD_FAILURE() << "marker not delivered: " << d.error.str();
    auto props = cfg.kafka.properties;
    props["auto.offset.reset"] = "earliest";
    Consumer again(cfg.kafka.brokers, cfg.kafka.group_id, props, {});
    again.subscribe({bot, api});
    int reread = 0;
    const bool seen = poll_until(60s, [&] {
      if (auto m = again.poll(100ms)) {
        if (m->value == "marker") pending.erase({m->topic, m->partition});
        else ++reread;
      }
      return pending.empty();
    });
    return seen ? reread : -1;
  }

  // Another worker of the same process, stopped and joined at the latest when it
  // goes out of scope (also when an assertion returns early).
  struct OtherWorker {
    OtherWorker(const Config& c, std::shared_ptr<Metrics> m) : worker(c, std::move(m)) {}
    ~OtherWorker() { stop_and_join(); }
    void stop_and_join() {
      stop = true;
      if (thread.joinable()) thread.join();
    }
    Worker worker;
    std::atomic<bool> stop{false};
    std::thread thread{[this] {
      try {
        worker.run(stop);
      } catch (const std::exception& e) {
        ADD_FAILURE() << "second worker failed: " << e.what();
      }
    }};
  };

  // The development broker with its fault injection, or nullptr on the real
  // broker (whose faults scripts/chaos --kafka real makes): a test that needs
  // it skips there.
  MockCluster* mock() { return kafka.mock(); }

  const std::string bot = kafka.bot(), api = kafka.api(), dlq = kafka.dlq();
  std::shared_ptr<Metrics> metrics = std::make_shared<Metrics>();
  std::unique_ptr<Worker> worker;
  std::atomic<bool> stop{false};
  std::atomic<bool> returned{false};
  std::thread thread;
};

}  // namespace lockstep
