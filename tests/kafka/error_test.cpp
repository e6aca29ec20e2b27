// KafkaFailure: librdkafka's errors as values and how their codes are classified.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>

#include <memory>

#include "lockstep/kafka.hpp"

namespace lockstep {
namespace {

TEST(KafkaFailure, DefaultIsSuccess) {
  const KafkaFailure ok;
  EXPECT_FALSE(ok);
  EXPECT_EQ(ok.code, 0);
  EXPECT_FALSE(ok.retriable);
  EXPECT_FALSE(ok.fatal);
  EXPECT_EQ(ok.str(), "");
}

TEST(KafkaFailure, NoErrorIsSuccessEvenWithAMessage) {
  const auto ok = kafka_failure(RdKafka::ERR_NO_ERROR, "ignored");
  EXPECT_FALSE(ok);
  EXPECT_EQ(ok.str(), "");
  EXPECT_FALSE(kafka_failure(static_cast<const rd_kafka_error_t*>(nullptr)));
}

TEST(KafkaFailure, TransportAndTimeoutsAreRetriable) {
  for (const auto code : {RdKafka::ERR__TRANSPORT, RdKafka::ERR__TIMED_OUT, RdKafka::ERR__MSG_TIMED_OUT,
                          RdKafka::ERR__ALL_BROKERS_DOWN, RdKafka::ERR_REQUEST_TIMED_OUT,
                          RdKafka::ERR_NOT_COORDINATOR, RdKafka::ERR_NOT_ENOUGH_REPLICAS}) {
    const auto f = kafka_failure(code);
    EXPECT_TRUE(f) << RdKafka::err2str(code);
    EXPECT_EQ(f.code, code);
    EXPECT_TRUE(f.retriable) << RdKafka::err2str(code);
    EXPECT_FALSE(f.fatal) << RdKafka::err2str(code);
  }
}

TEST(KafkaFailure, FencedAndFatalAreFatalNotRetriable) {
  for (const auto code : {RdKafka::ERR__FATAL, RdKafka::ERR__FENCED, RdKafka::ERR_PRODUCER_FENCED,
                          RdKafka::ERR_FENCED_INSTANCE_ID, RdKafka::ERR_INVALID_PRODUCER_EPOCH}) {
    const auto f = kafka_failure(code);
    EXPECT_TRUE(f.fatal) << RdKafka::err2str(code);
    EXPECT_FALSE(f.retriable) << RdKafka::err2str(code);
  }
}

TEST(KafkaFailure, ARefusedMessageIsNeitherRetriableNorFatal) {
  for (const auto code : {RdKafka::ERR_MSG_SIZE_TOO_LARGE, RdKafka::ERR_TOPIC_ALREADY_EXISTS,
                          RdKafka::ERR_TOPIC_AUTHORIZATION_FAILED, RdKafka::ERR__INVALID_ARG}) {
    const auto f = kafka_failure(code);
    EXPECT_TRUE(f) << RdKafka::err2str(code);
    EXPECT_FALSE(f.retriable) << RdKafka::err2str(code);
    EXPECT_FALSE(f.fatal) << RdKafka::err2str(code);
  }
}

TEST(KafkaFailure, TheTextIsTheMessageOrLibrdkafkasOwn) {
  EXPECT_EQ(kafka_failure(RdKafka::ERR__TIMED_OUT).str(), RdKafka::err2str(RdKafka::ERR__TIMED_OUT));
  EXPECT_EQ(kafka_failure(RdKafka::ERR__TIMED_OUT, "offset commit unanswered after 5 ms").str(),
            "offset commit unanswered after 5 ms");
  KafkaFailure bare;
  bare.code = RdKafka::ERR_MSG_SIZE_TOO_LARGE;
  EXPECT_EQ(bare.str(), RdKafka::err2str(RdKafka::ERR_MSG_SIZE_TOO_LARGE));
}

TEST(KafkaFailure, AnErrorObjectKeepsItsCodeTextAndLibrdkafkasFlags) {
  const std::unique_ptr<rd_kafka_error_t, void (*)(rd_kafka_error_t*)> e(
      rd_kafka_error_new(RD_KAFKA_RESP_ERR__TRANSPORT, "broker %d went away", 3), rd_kafka_error_destroy);
  const auto f = kafka_failure(e.get());
  EXPECT_TRUE(f);
  EXPECT_EQ(f.code, RD_KAFKA_RESP_ERR__TRANSPORT);
  EXPECT_EQ(f.str(), "broker 3 went away");
  // Flags are librdkafka's, not this file's classification of the code.
  EXPECT_EQ(f.retriable, rd_kafka_error_is_retriable(e.get()) != 0);
  EXPECT_EQ(f.fatal, rd_kafka_error_is_fatal(e.get()) != 0);
}

TEST(KafkaFailure, AnErrorObjectsRetriableFlagIsLibrdkafkas) {
  // A transactional producer without a broker: init_transactions() times out
  // with an error object librdkafka marks retriable.
  char err[256];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  ASSERT_EQ(rd_kafka_conf_set(conf, "transactional.id", "kafka-failure-test", err, sizeof err), RD_KAFKA_CONF_OK)
      << err;
  const std::unique_ptr<rd_kafka_t, void (*)(rd_kafka_t*)> rk(rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err),
                                                              rd_kafka_destroy);
  ASSERT_TRUE(rk) << err;
  const std::unique_ptr<rd_kafka_error_t, void (*)(rd_kafka_error_t*)> e(rd_kafka_init_transactions(rk.get(), 200),
                                                                         rd_kafka_error_destroy);
  ASSERT_TRUE(e);
  ASSERT_TRUE(rd_kafka_error_is_retriable(e.get()));
  const auto f = kafka_failure(e.get());
  EXPECT_EQ(f.code, RD_KAFKA_RESP_ERR__TIMED_OUT) << f.str();
  EXPECT_TRUE(f.retriable) << f.str();
  EXPECT_FALSE(f.fatal) << f.str();
  EXPECT_EQ(f.str(), rd_kafka_error_string(e.get()));
}

}  // namespace
}  // namespace lockstep
