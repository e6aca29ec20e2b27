// The group consumer's offset commits.
#include "consumer_impl.hpp"

namespace lockstep {
using namespace kafka_detail;

namespace {

// The answer in a commit's result event: success when the coordinator took
// every position, the error otherwise.
KafkaFailure answer_of(rd_kafka_event_t* ev) {
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
  return err;
}

bool given_up(const std::atomic<bool>* give_up) { return give_up && give_up->load(); }

}  // namespace

std::optional<KafkaFailure> Consumer::Impl::commit_answer(rd_kafka_queue_t* q, const Deadline& deadline,
                                                          const std::atomic<bool>* give_up) {
  struct Waiting {  // registered for wake_commit_wait() while polling
    Impl& impl;
    explicit Waiting(Impl& i, rd_kafka_queue_t* q) : impl(i) {
      std::lock_guard lk(impl.waiting_mu);
      impl.waiting = q;
    }
    ~Waiting() {
      std::lock_guard lk(impl.waiting_mu);
      impl.waiting = nullptr;
    }
  } waiting(*this, q);
  // Checked after registering: a wake either finds the queue registered (and
  // yields it, which also ends a poll that starts later) or came before, when
  // `give_up` was already set.
  while (!given_up(give_up)) {
    rd_kafka_event_t* ev = rd_kafka_queue_poll(q, deadline.left_ms());
    if (ev) {
      auto err = answer_of(ev);
      rd_kafka_event_destroy(ev);
      return err;
    }
    if (deadline.passed()) break;
    // Woken early: given up, or a yield left on the queue by an earlier wake.
  }
  return std::nullopt;
}

void Consumer::wake_commit_wait() {
  std::lock_guard lk(impl_->waiting_mu);
  if (impl_->waiting) rd_kafka_queue_yield(impl_->waiting);
}

KafkaFailure Consumer::commit(const std::vector<TopicPartition>& positions, bool async,
                              std::chrono::milliseconds timeout, const std::atomic<bool>* give_up) {
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
    if (!impl_->commit_answer(impl_->unanswered.get(), deadline, give_up))
      return kafka_failure(RdKafka::ERR__PREV_IN_PROGRESS, "an earlier offset commit is still unanswered");
    impl_->unanswered.reset();
  }
  if (given_up(give_up)) return kafka_failure(RdKafka::ERR__TIMED_OUT, "offset commit given up before it was sent");
  rd_kafka_t* rk = impl_->consumer->c_ptr();
  std::unique_ptr<rd_kafka_topic_partition_list_t, void (*)(rd_kafka_topic_partition_list_t*)> list(
      rd_kafka_topic_partition_list_new(static_cast<int>(positions.size())), rd_kafka_topic_partition_list_destroy);
  for (const auto& p : positions)
    rd_kafka_topic_partition_list_add(list.get(), p.topic.c_str(), p.partition)->offset = p.offset;
  QueuePtr q(rd_kafka_queue_new(rk));
  if (const auto err = rd_kafka_commit_queue(rk, list.get(), q.get(), nullptr, nullptr)) return kafka_failure(err);
  auto answer = impl_->commit_answer(q.get(), deadline, give_up);
  if (!answer) {
    impl_->unanswered = std::move(q);
    return kafka_failure(RdKafka::ERR__TIMED_OUT, given_up(give_up) ? std::string("offset commit unanswered when given up")
                                                                     : "offset commit unanswered after " +
                                                                           std::to_string(timeout.count()) + " ms");
  }
  return *answer;
}

}  // namespace lockstep
