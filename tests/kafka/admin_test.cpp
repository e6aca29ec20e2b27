// Topic administration against a real Apache Kafka (label kafka-real): the
// development broker answers metadata but not CreateTopics, DeleteTopics or
// DescribeConfigs.
#include <gtest/gtest.h>
#include <librdkafka/rdkafkacpp.h>

#include <chrono>

#include "lockstep/kafka.hpp"
#include "lockstep/test/support.hpp"

namespace lockstep {
namespace {

using namespace std::chrono_literals;

class AdminTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto b = test::real_kafka_brokers();
    if (!b) GTEST_SKIP() << "no real Kafka: set LOCKSTEP_TEST_KAFKA_BROKERS (scripts/test does)";
    brokers = *b;
  }
  std::string brokers;
  const std::string prefix = "admin-" + test::unique_suffix() + "-";
};

TEST_F(AdminTest, CreatesDescribesAndReadsTheConfigsOfTopics) {
  Admin admin(brokers, {});
  const std::string a = prefix + "a", b = prefix + "b", missing = prefix + "missing";
  const auto errors = admin.create({{a, 3, 1, {{"retention.ms", "3600000"}}}, {b, -1, -1, {}}}, 30s);
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_FALSE(errors[0]) << errors[0].str();
  EXPECT_FALSE(errors[1]) << errors[1].str();

  std::vector<TopicDescription> d;
  ASSERT_TRUE(test::poll_until(30s, [&] {
    d = admin.describe({a, missing, b}, 10s);
    return d[0].exists && d[2].exists;
  })) << "the new topics never showed in the metadata";
  EXPECT_EQ(d[0].name, a);
  EXPECT_EQ(d[0].partitions, 3);
  EXPECT_EQ(d[0].replication_factor, 1);
  EXPECT_FALSE(d[1].exists);
  EXPECT_EQ(d[1].name, missing);
  EXPECT_GE(d[2].partitions, 1);  // the broker's num.partitions

  const auto configs = admin.configs(a, 30s);
  ASSERT_TRUE(configs.count("retention.ms"));
  EXPECT_EQ(configs.at("retention.ms").value, "3600000");
  EXPECT_FALSE(configs.at("retention.ms").is_default);
  ASSERT_TRUE(configs.count("max.message.bytes"));
  EXPECT_GT(std::stoll(configs.at("max.message.bytes").value), 0);

  // Creating an existing topic is the broker's error, per topic; nothing changes.
  const auto again = admin.create({{a, 5, 1, {}}}, 30s);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].code, RdKafka::ERR_TOPIC_ALREADY_EXISTS) << again[0].str();
  EXPECT_NE(again[0].str().find("already exists"), std::string::npos) << again[0].str();
  EXPECT_EQ(admin.describe({a}, 10s)[0].partitions, 3);
}

TEST_F(AdminTest, DeletesTopicsAndCountsBrokers) {
  Admin admin(brokers, {});
  EXPECT_GE(admin.broker_count(10s), 1);
  const std::string a = prefix + "del-a", missing = prefix + "del-missing";
  const auto created = admin.create({{a, 2, -1, {}}}, 30s);
  ASSERT_EQ(created.size(), 1u);
  ASSERT_FALSE(created[0]) << created[0].str();
  ASSERT_TRUE(test::poll_until(30s, [&] { return admin.describe({a}, 10s)[0].exists; }));

  // Per topic, in order: deleted, or the broker's error for one that is not there.
  const auto errors = admin.remove({missing, a}, 30s);
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_TRUE(errors[0]);
  EXPECT_FALSE(errors[0].str().empty());
  EXPECT_FALSE(errors[1]) << errors[1].str();
  EXPECT_TRUE(test::poll_until(30s, [&] { return !admin.describe({a}, 10s)[0].exists; }))
      << "the deleted topic stayed in the metadata";
}

TEST_F(AdminTest, ABadRequestIsTheBrokersErrorNotAnException) {
  Admin admin(brokers, {});
  // More replicas than the cluster has nodes.
  const auto errors = admin.create({{prefix + "rf100", 1, 100, {}}}, 30s);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_TRUE(errors[0]);
  EXPECT_FALSE(errors[0].str().empty());
  EXPECT_THROW(admin.configs(prefix + "missing", 10s), KafkaError);
}

TEST(AdminNoBroker, ACallWithoutAnAnswerThrowsWithinItsTimeout) {
  // Nothing listens on this port.
  const int port = test::free_port();
  Admin admin("127.0.0.1:" + std::to_string(port), {});
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(admin.describe({"t"}, 2s), KafkaError);
  EXPECT_THROW(admin.create({{"t", 1, 1, {}}}, 2s), KafkaError);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
}

TEST(AdminNoBroker, DeletingOrCountingBrokersWithoutAnAnswerThrowsWithinItsTimeout) {
  const int port = test::free_port();
  Admin admin("127.0.0.1:" + std::to_string(port), {});
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(admin.remove({"t"}, 2s), KafkaError);
  EXPECT_THROW(admin.broker_count(2s), KafkaError);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
}

}  // namespace
}  // namespace lockstep
