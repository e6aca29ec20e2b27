// The group consumer's offset commits.
#include "consumer_impl.hpp"

namespace lockstep {
using namespace kafka_detail;

namespace {

// The answer to a commit on `q`, waited for at most `timeout`: success when
// the coordinator took every position, the error otherwise, nullopt while unanswered.
std::optional<KafkaFailure> commit_answer(rd_kafka_queue_t* q, int timeout_ms) {
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, timeout_ms);
  if (!ev) return std::nullopt;
  KafkaFailure err;
  if (const auto e = rd_kafka_event_error(ev)) {
    err = kafka_failure(e, rd_kafka_event_error_string(ev));
  } else if (const auto* l = rd_kafka_event_topic_partition_list(ev)) {
    for (int i = 0; i < l->cnt && !err; ++i)
      if (l->elems[i].err)
        err = kafka_failure(l->elems[i].err, std::string(l->elems[i].topic) + "/" +
                                                 std::to_string(l->elems[i].partition) + ": " +
                                                 rd_kafka_err2str(l->elems[i].err));
  }
  rd_kafka_event_destroy(ev);
  return err;
}

}  // namespace

KafkaFailure Consumer::commit(const std::vector<TopicPartition>& positions, bool async,
                              std::chrono::milliseconds timeout) {
  if (positions.empty()) return {};
  if (async) {
    TpList l(positions);
    return kafka_failure(impl_->consumer->commitAsync(l.v));
  }
  // Not commitSync(): it waits for the answer without a bound (half a minute
  // and more while the coordinator's path drops packets).
  const Deadline deadline(timeout);
  std::lock_guard lk(impl_->commit_mu);
  if (impl_->unanswered) {
    if (!commit_answer(impl_->unanswered.get(), deadline.left_ms()))
      return kafka_failure(RdKafka::ERR__PREV_IN_PROGRESS, "an earlier offset commit is still unanswered");
    impl_->unanswered.reset();
  }
  rd_kafka_t* rk = impl_->consumer->c_ptr();
  std::unique_ptr<rd_kafka_topic_partition_list_t, void (*)(rd_kafka_topic_partition_list_t*)> list(
      rd_kafka_topic_partition_list_new(static_cast<int>(positions.size())), rd_kafka_topic_partition_list_destroy);
  for (const auto& p : positions)
    rd_kafka_topic_partition_list_add(list.get(), p.topic.c_str(), p.partition)->offset = p.offset;
  QueuePtr q(rd_kafka_queue_new(rk));
  if (const auto err = rd_kafka_commit_queue(rk, list.get(), q.get(), nullptr, nullptr)) return kafka_failure(err);
  auto answer = commit_answer(q.get(), deadline.left_ms());
  if (!answer) {
    impl_->unanswered = std::move(q);
    return kafka_failure(RdKafka::ERR__TIMED_OUT,
                         "offset commit unanswered after " + std::to_string(timeout.count()) + " ms");
  }
  return *answer;
}

}  // namespace lockstep
