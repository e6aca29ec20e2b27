// librdkafka's own log lines reach spdlog's `rdkafka` logger, from every kind
// of handle lockstep_kafka creates, at the level of their syslog severity; none
// goes to librdkafka's own printer. Port 1 of the loopback address refuses
// connections, which librdkafka logs (FAIL, severity 3) for each new client.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <regex>

#include "capture_sink.hpp"
#include "lockstep/kafka.hpp"
#include "lockstep/kafka_log.hpp"
#include "lockstep/log.hpp"
#include "lockstep/test/support.hpp"

namespace lockstep {
namespace {

using namespace std::chrono_literals;

constexpr const char* kNowhere = "127.0.0.1:1";

// Installs an `rdkafka` logger (and a default logger) writing to a capture;
// back to the default loggers on stderr afterwards.
class KafkaLog : public ::testing::Test {
 protected:
  void SetUp() override {
    sink = std::make_shared<test::CaptureSink>();
    logging::setup([](const char* name) -> std::optional<std::string> {
      if (std::string(name) == "LOCKSTEP_LOG_LEVEL") return "trace";
      return std::nullopt;
    }, sink);
  }
  void TearDown() override { logging::setup(nullptr); }  // back to stderr, as a process starts

  // The first record of `logger` whose message has `handle` (a prefix such as
  // "rdkafka#producer-") then " <facility>: ", waiting up to 20 s.
  std::optional<test::CapturedRecord> wait_for(const std::string& logger, const std::string& handle,
                                               const std::string& facility) {
    std::optional<test::CapturedRecord> found;
    test::poll_until(20s, [&] {
      for (const auto& r : sink->records()) {
        if (r.logger == logger && r.msg.rfind(handle, 0) == 0 && r.msg.find(" " + facility + ": ") != std::string::npos) {
          found = r;
          return true;
        }
      }
      return false;
    });
    return found;
  }

  // The connection failure every client to kNowhere logs, at error level.
  void expect_connect_failure(const std::string& handle) {
    const auto r = wait_for("rdkafka", handle, "FAIL");
    ASSERT_TRUE(r) << "no FAIL line of " << handle << " reached the rdkafka logger; got " << dump();
    EXPECT_EQ(r->level, spdlog::level::err) << r->msg;
    EXPECT_NE(r->msg.find(kNowhere), std::string::npos) << r->msg;
    // Every line names its client (rdkafka#producer-3), also the first ones,
    // logged while the handle was being created.
    const std::regex named(R"(^rdkafka#(producer|consumer)-\d+ [A-Z_]+: .*)");
    for (const auto& rec : sink->records()) {
      if (rec.logger != "rdkafka") continue;
      EXPECT_TRUE(std::regex_match(rec.msg, named)) << rec.msg;
    }
  }

  std::string dump() {
    std::string out;
    for (const auto& r : sink->records()) out += "\n  [" + r.logger + "] " + r.msg;
    return out;
  }

  std::shared_ptr<test::CaptureSink> sink;
};

TEST(KafkaLogLevel, SyslogSeveritiesMap) {
  EXPECT_EQ(rdkafka_log_level(0), spdlog::level::critical);
  EXPECT_EQ(rdkafka_log_level(1), spdlog::level::critical);
  EXPECT_EQ(rdkafka_log_level(2), spdlog::level::critical);
  EXPECT_EQ(rdkafka_log_level(3), spdlog::level::err);
  EXPECT_EQ(rdkafka_log_level(4), spdlog::level::warn);
  EXPECT_EQ(rdkafka_log_level(5), spdlog::level::info);
  EXPECT_EQ(rdkafka_log_level(6), spdlog::level::info);
  EXPECT_EQ(rdkafka_log_level(7), spdlog::level::debug);
}

// The C++ API handles (EventCb, EVENT_LOG), each named by its client name.
TEST_F(KafkaLog, ProducerLinesGoThroughTheRdkafkaLogger) {
  Producer p(kNowhere, {});
  expect_connect_failure("rdkafka#producer-");
}

TEST_F(KafkaLog, ConsumerLinesGoThroughTheRdkafkaLogger) {
  Consumer c(kNowhere, "kafka-log-test", {}, {});
  c.subscribe({"kafka-log-test"});
  test::poll_until(20s, [&] {
    c.poll(10ms);
    return wait_for("rdkafka", "rdkafka#consumer-", "FAIL").has_value();
  });
  expect_connect_failure("rdkafka#consumer-");
}

TEST_F(KafkaLog, AdminLinesGoThroughTheRdkafkaLogger) {
  Admin a(kNowhere, {});
  EXPECT_THROW(a.describe({"t"}, 1500ms), KafkaError);
  expect_connect_failure("rdkafka#producer-");
}

// A handle without an EventCb (the topic reader's) logs through the C callback.
TEST_F(KafkaLog, TopicReaderLinesGoThroughTheRdkafkaLogger) {
  EXPECT_THROW(read_topics(kNowhere, {}, {"t"}, 1500ms), KafkaError);
  expect_connect_failure("rdkafka#consumer-");
}

// A C API handle routed with route_rdkafka_logs, with librdkafka's debug lines
// on: they arrive as debug, under the handle's own name.
TEST_F(KafkaLog, CApiHandleDebugLinesAreDebug) {
  char err[256];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  ASSERT_EQ(rd_kafka_conf_set(conf, "debug", "generic", err, sizeof err), RD_KAFKA_CONF_OK) << err;
  ASSERT_EQ(rd_kafka_conf_set(conf, "bootstrap.servers", kNowhere, err, sizeof err), RD_KAFKA_CONF_OK) << err;
  route_rdkafka_logs(conf);
  const std::unique_ptr<rd_kafka_t, void (*)(rd_kafka_t*)> rk(rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err),
                                                              rd_kafka_destroy);
  ASSERT_TRUE(rk) << err;
  const std::string name = rd_kafka_name(rk.get());
  ASSERT_TRUE(test::poll_until(20s, [&] {
    for (const auto& r : sink->records()) {
      if (r.logger == "rdkafka" && r.level == spdlog::level::debug && r.msg.rfind(name + " ", 0) == 0) return true;
    }
    return false;
  })) << "no debug line of " << name << ": " << dump();
  expect_connect_failure(name);
}

// Without the `rdkafka` logger (setup not called), lines go to the default logger.
TEST_F(KafkaLog, WithoutTheRdkafkaLoggerTheDefaultLoggerGetsThem) {
  spdlog::drop(kRdkafkaLoggerName);
  log_rdkafka_line("rdkafka#producer-9", 4, "CONFWARN", "a warning");
  const auto records = sink->records();
  ASSERT_EQ(records.size(), 1u) << dump();
  EXPECT_EQ(records[0].logger, "lockstep");
  EXPECT_EQ(records[0].level, spdlog::level::warn);
  EXPECT_EQ(records[0].msg, "rdkafka#producer-9 CONFWARN: a warning");
}

}  // namespace
}  // namespace lockstep
