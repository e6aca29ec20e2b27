// The group consumer's state, shared by consumer.cpp (the calls),
// consumer_rebalance.cpp (librdkafka's rebalance and event callbacks) and
// consumer_commit.cpp (offset commits).
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "consumer_support.hpp"

namespace lockstep {

struct Consumer::Impl : public RdKafka::RebalanceCb, public RdKafka::EventCb {
  kafka_detail::HandleLog log{"rdkafka#consumer"};  // first: outlives the handle
  Consumer* self = nullptr;
  Hooks hooks;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer;
  bool closed = false;
  std::mutex commit_mu;
  kafka_detail::QueuePtr unanswered;  // the queue of a synchronous commit still waiting for its answer
  std::mutex waiting_mu;                // guards `waiting` (not commit_mu: held for the whole wait)
  rd_kafka_queue_t* waiting = nullptr;  // the queue a synchronous commit is polling now

  // The answer to a commit on `q` by `deadline`, nullopt while unanswered;
  // ends early once `give_up` is set and wake_commit_wait() is called.
  std::optional<KafkaFailure> commit_answer(rd_kafka_queue_t* q, const kafka_detail::Deadline& deadline,
                                            const std::atomic<bool>* give_up);

  void rebalance_cb(RdKafka::KafkaConsumer* c, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& partitions) override;
  void event_cb(RdKafka::Event& e) override;

 private:
  void assign(RdKafka::KafkaConsumer* c, bool cooperative, std::vector<RdKafka::TopicPartition*>& partitions);
  void revoke(RdKafka::KafkaConsumer* c, bool cooperative, std::vector<RdKafka::TopicPartition*>& partitions);
  // librdkafka refused an assignment: reported as fatal.
  void report_assignment_error(const char* what, KafkaFailure err);
  void report(const KafkaFailure& f) {
    if (hooks.on_error) hooks.on_error(f);
  }
};

}  // namespace lockstep
