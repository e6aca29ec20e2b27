// `lockstep topics check|ensure` through the binary against a real Apache
// Kafka (label kafka-real; the development broker cannot create topics).
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <vector>

#include "lockstep/kafka.hpp"
#include "lockstep/test/events.hpp"
#include "lockstep/test/support.hpp"

namespace lockstep {
namespace {

using namespace std::chrono_literals;
using test::bin_dir;
using test::Process;

using test::read_file;

struct CliRun {
  int exit = -1;
  std::string out;  // stdout, lines joined with '\n'
  std::string err;
};

class TopicsCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto b = test::real_kafka_brokers();
    if (!b) GTEST_SKIP() << "no real Kafka: set LOCKSTEP_TEST_KAFKA_BROKERS (scripts/test does)";
    brokers = *b;
    dir = std::filesystem::temp_directory_path() / ("lockstep-topics-" + test::unique_suffix());
    std::filesystem::create_directories(dir);
    config = (dir / "lockstep.yaml").string();
    // The shipped configuration with this test's own topics.
    Config c = test::builtin_config();
    c.kafka.topics = {{p + "bot", "bot"}, {p + "api", "api"}};
    c.kafka.dead_letter_topic = p + "dlq";
    c.kafka.outcome_topic = p + "out";
    c.kafka.new_topics.partitions = 4;
    c.kafka.new_topics.replication_factor = 1;
    c.kafka.new_topics.configs = {{"retention.ms", "7200000"}};
    test::write_config(c, config);
  }
  void TearDown() override {
    if (!dir.empty()) std::filesystem::remove_all(dir);
  }

  CliRun topics(const std::string& what) {
    const std::string err_path = (dir / ("cli-" + std::to_string(++runs) + ".err")).string();
    Process proc({bin_dir() + "/lockstep", "topics", what, "--config", config, "--brokers", brokers},
                 {{"LOCKSTEP_KAFKA_BROKERS", ""}, {"LOCKSTEP_LOG_LEVEL", "warn"}}, err_path);
    CliRun r;
    while (auto line = proc.read_line(90s)) r.out += *line + "\n";
    r.exit = proc.wait(30s).value_or(-1);
    r.err = read_file(err_path);
    return r;
  }

  // `lockstep run` on this test's config and the real broker, its log at `log`.
  std::unique_ptr<Process> start_worker(const test::TestDb& db, const std::string& group_prefix,
                                        const std::string& log) {
    return std::make_unique<Process>(
        std::vector<std::string>{bin_dir() + "/lockstep", "run", "--config", config, "--brokers", brokers,
                                 "--database-url", db.url(), "--metrics-listen",
                                 "127.0.0.1:" + std::to_string(test::free_port())},
        std::map<std::string, std::string>{{"LOCKSTEP_KAFKA_BROKERS", ""},
                                           {"LOCKSTEP_KAFKA_GROUP_ID", group_prefix + test::unique_suffix()},
                                           {"LOCKSTEP_DATABASE_URL", ""},
                                           {"LOCKSTEP_METRICS_LISTEN", ""}},
        log);
  }

  std::string brokers;
  std::filesystem::path dir;
  std::string config;
  const std::string p = "cli-" + test::unique_suffix() + ".";
  int runs = 0;
};

TEST_F(TopicsCliTest, CheckSaysWhatIsMissingEnsureCreatesItAndNeverChangesAnExistingTopic) {
  // The api topic exists already, smaller than configured.
  Admin admin(brokers, {});
  const auto created = admin.create({{p + "api", 2, 1, {}}}, 30s);
  ASSERT_EQ(created.size(), 1u);
  ASSERT_FALSE(created[0]) << created[0].str();
  ASSERT_TRUE(test::poll_until(30s, [&] { return admin.describe({p + "api"}, 10s)[0].exists; }));

  auto r = topics("check");
  EXPECT_EQ(r.exit, 1) << r.out << r.err;
  EXPECT_NE(r.out.find(p + "bot (input): missing\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(p + "api (input): exists, 2 partitions, replication factor 1; differs from "
                               "kafka.new_topics: partitions 2 (configured 4)"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find(p + "dlq (dead-letter): missing\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(p + "out (outcome): missing\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("3 configured topic(s) missing: `lockstep topics ensure` creates them"), std::string::npos)
      << r.out;
  // check created nothing.
  EXPECT_FALSE(admin.describe({p + "bot"}, 10s)[0].exists);

  r = topics("ensure");
  EXPECT_EQ(r.exit, 0) << r.out << r.err;
  for (const char* t : {"bot (input)", "dlq (dead-letter)", "out (outcome)"})
    EXPECT_NE(r.out.find(p + t + ": created, 4 partitions, replication factor 1\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(p + "api (input): exists, 2 partitions, replication factor 1; differs from "
                               "kafka.new_topics: partitions 2 (configured 4), retention.ms "),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("(not changed)"), std::string::npos) << r.out;

  // The created topics carry the configured configs; the existing one kept its partitions.
  EXPECT_EQ(admin.configs(p + "dlq", 30s).at("retention.ms").value, "7200000");
  EXPECT_EQ(admin.describe({p + "api"}, 10s)[0].partitions, 2);

  // Idempotent: a second ensure creates nothing and finds the new topics as configured.
  r = topics("ensure");
  EXPECT_EQ(r.exit, 0) << r.out << r.err;
  EXPECT_EQ(r.out.find("created"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(p + "bot (input): exists, 4 partitions, replication factor 1\n"), std::string::npos) << r.out;
  r = topics("check");
  EXPECT_EQ(r.exit, 0) << r.out << r.err;
}

// The worker names a missing input topic at start-up, and says when it
// appears: a real broker, unlike the development one, does not create a topic
// because a consumer subscribed to it.
TEST_F(TopicsCliTest, TheWorkerNamesAMissingInputTopicAndSaysWhenItAppears) {
  test::TestDb db;
  const std::string log = (dir / "worker.log").string();
  const auto worker = start_worker(db, "topics-", log);
  const auto said = [&](const std::string& text) { return read_file(log).find(text) != std::string::npos; };
  EXPECT_TRUE(test::poll_until(30s, [&] {
    return said("the input topic " + p + "bot does not exist on the cluster: nothing is consumed from it") &&
           said("the outcome topic " + p + "out does not exist on the cluster");
  }));
  ASSERT_EQ(topics("ensure").exit, 0);
  // Checked again every 30 s.
  EXPECT_TRUE(test::poll_until(45s, [&] { return said("the input topic " + p + "bot exists now"); }));
  worker->signal(SIGTERM);
  EXPECT_EQ(worker->wait(30s), 0);
  if (HasFailure()) ADD_FAILURE() << "worker log:\n" << read_file(log);
}

// The dead-letter topic allows smaller messages than the producer
// (max.message.bytes 100,000): a dead letter of a 150 kB event is published
// trimmed, not refused by the broker and deferred forever.
TEST_F(TopicsCliTest, ADeadLetterFitsTheDeadLetterTopicsOwnSizeLimit) {
  Admin admin(brokers, {});
  const auto created = admin.create({{p + "dlq", 1, 1, {{"max.message.bytes", "100000"}}}}, 30s);
  ASSERT_EQ(created.size(), 1u);
  ASSERT_FALSE(created[0]) << created[0].str();
  ASSERT_EQ(topics("ensure").exit, 0);
  test::TestDb db;
  const std::string log = (dir / "worker.log").string();
  const auto worker = start_worker(db, "size-", log);
  // Not a legal first transition: dead-lettered with the whole event in the message.
  const std::string id = "big-" + test::unique_suffix();
  const std::string event = test::event(id, "m1", "activate").payload({{"blob", std::string(150000, 'x')}});
  {
    Producer producer(brokers, {});
    for (const auto& d : producer.send({{p + "bot", std::string("membership:m1"), event, {}}}, 30s))
      ASSERT_FALSE(d.error) << d.error.str();
  }
  EXPECT_TRUE(test::poll_until(60s, [&] {
    return db.scalar("SELECT count(*) FROM dead_letters WHERE event_id = '" + id + "' AND published_at IS NOT NULL") ==
           "1";
  })) << "the dead letter was not published; worker log:\n"
      << read_file(log);
  const auto msgs = read_topics(brokers, {}, {p + "dlq"}, 30s);
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_LE(msgs[0].value.size(), 100000u);
  EXPECT_NE(msgs[0].value.find(R"("trimmed":true)"), std::string::npos) << msgs[0].value.substr(0, 500);
  EXPECT_NE(msgs[0].value.find(R"("event_id":")" + id + "\""), std::string::npos);
  worker->signal(SIGTERM);
  EXPECT_EQ(worker->wait(30s), 0) << read_file(log);
}

TEST_F(TopicsCliTest, AnUnreachableClusterIsAClearErrorNotAHang) {
  const auto start = std::chrono::steady_clock::now();
  brokers = "127.0.0.1:" + std::to_string(test::free_port());
  const std::string err_path = (dir / "unreachable.err").string();
  Process proc({bin_dir() + "/lockstep", "topics", "check", "--config", config, "--brokers", brokers, "--timeout-ms",
                "2000"},
               {{"LOCKSTEP_KAFKA_BROKERS", ""}, {"LOCKSTEP_LOG_LEVEL", "error"}}, err_path);
  EXPECT_EQ(proc.wait(30s), 1);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 20s);
  const std::string err = read_file(err_path);
  EXPECT_NE(err.find("lockstep topics: metadata:"), std::string::npos) << err;
}

}  // namespace
}  // namespace lockstep
