// The group consumer: creation, polling, pause and resume, positions and
// watermarks, leaving the group. Its callbacks are in consumer_rebalance.cpp,
// its commits in consumer_commit.cpp.
#include <spdlog/spdlog.h>

#include "consumer_impl.hpp"

namespace lockstep {
using namespace kafka_detail;

Consumer::Consumer(const std::string& brokers, const std::string& group_id, const KafkaProps& props, Hooks hooks)
    : impl_(std::make_unique<Impl>()) {
  impl_->self = this;
  impl_->hooks = std::move(hooks);
  auto conf = make_conf(brokers, props);
  force(*conf, "group.id", group_id);
  // Offsets are ours: stored and committed only below completed events.
  force(*conf, "enable.auto.commit", "false");
  force(*conf, "enable.auto.offset.store", "false");
  set_default(*conf, props, "auto.offset.reset", "earliest");
  set_default(*conf, props, "enable.partition.eof", "false");
  set_default(*conf, props, "queued.max.messages.kbytes", "16384");
  // A request unanswered this long tears its connection down and is sent again
  // on a new one: after a network path dropped packets, a connection can
  // otherwise stay wedged (TCP retransmission backs off) for a minute.
  set_default(*conf, props, "socket.timeout.ms", "10000");
  std::string err;
  if (conf->set("rebalance_cb", static_cast<RdKafka::RebalanceCb*>(impl_.get()), err) != RdKafka::Conf::CONF_OK)
    throw KafkaError("rebalance_cb: " + err);
  if (conf->set("event_cb", static_cast<RdKafka::EventCb*>(impl_.get()), err) != RdKafka::Conf::CONF_OK)
    throw KafkaError("event_cb: " + err);
  impl_->log.creating();
  impl_->consumer.reset(RdKafka::KafkaConsumer::create(conf.get(), err));
  impl_->log.named(impl_->consumer ? std::optional(impl_->consumer->name()) : std::nullopt);
  if (!impl_->consumer) throw KafkaError("cannot create consumer: " + err);
}

Consumer::~Consumer() {
  try {
    close();
  } catch (...) {
  }
}

void Consumer::subscribe(const std::vector<std::string>& topics) {
  auto err = impl_->consumer->subscribe(topics);
  if (err != RdKafka::ERR_NO_ERROR) throw KafkaError("subscribe: " + RdKafka::err2str(err));
}

std::optional<Message> Consumer::poll(std::chrono::milliseconds timeout) {
  std::unique_ptr<RdKafka::Message> m(impl_->consumer->consume(static_cast<int>(timeout.count())));
  if (!m) return std::nullopt;
  switch (m->err()) {
    case RdKafka::ERR_NO_ERROR:
      return to_message(*m);
    case RdKafka::ERR__TIMED_OUT:
    case RdKafka::ERR__PARTITION_EOF:
      return std::nullopt;
    default:
      if (impl_->hooks.on_error) impl_->hooks.on_error(kafka_failure(m->err(), m->errstr()));
      return std::nullopt;
  }
}

void Consumer::pause(const std::vector<TopicPartition>& parts) {
  if (parts.empty()) return;
  TpList l(parts);
  impl_->consumer->pause(l.v);
}

void Consumer::resume(const std::vector<TopicPartition>& parts) {
  if (parts.empty()) return;
  TpList l(parts);
  // Each partition's position: one past the last message poll() returned,
  // unset when none was since it was assigned (or last sought).
  impl_->consumer->position(l.v);
  impl_->consumer->resume(l.v);
  // librdkafka (2.0) resumes a partition without waking the broker thread
  // that fetches it: that thread sleeps on until something else happens on
  // its connection, up to a second, and the worker idles meanwhile. A seek
  // wakes it. It goes to the position just read, where the resume goes on
  // anyway, so it moves nothing; it also keeps librdkafka from going back to
  // an older position when the partition was not paused (librdkafka #4686).
  // Asynchronous (timeout 0): nothing waits for the broker.
  for (auto* tp : l.v)
    if (tp->offset() >= 0) impl_->consumer->seek(*tp, 0);
}

std::string Consumer::rebalance_protocol() { return impl_->consumer->rebalance_protocol(); }

std::vector<TopicPartition> Consumer::assignment() {
  std::vector<RdKafka::TopicPartition*> ps;
  impl_->consumer->assignment(ps);
  auto out = convert(ps);
  RdKafka::TopicPartition::destroy(ps);
  return out;
}

std::vector<TopicPartition> Consumer::committed(const std::vector<TopicPartition>& parts,
                                               std::chrono::milliseconds timeout) {
  TpList l(parts);
  const auto err = impl_->consumer->committed(l.v, static_cast<int>(timeout.count()));
  if (err != RdKafka::ERR_NO_ERROR) throw KafkaError("committed offsets: " + RdKafka::err2str(err));
  return convert(l.v);
}

std::optional<int64_t> Consumer::high_watermark(const std::string& topic, int32_t partition) {
  int64_t lo = -1, hi = -1;
  auto err = impl_->consumer->get_watermark_offsets(topic, partition, &lo, &hi);
  if (err != RdKafka::ERR_NO_ERROR || hi < 0) return std::nullopt;
  return hi;
}

std::optional<std::pair<int64_t, int64_t>> Consumer::query_watermarks(const std::string& topic, int32_t partition,
                                                                       std::chrono::milliseconds timeout) {
  int64_t lo = -1, hi = -1;
  auto err = watermarks(*impl_->consumer, topic, partition, lo, hi, timeout);
  if (err != RdKafka::ERR_NO_ERROR || hi < 0) return std::nullopt;
  return std::make_pair(lo, hi);
}

std::optional<int64_t> Consumer::query_high_watermark(const std::string& topic, int32_t partition,
                                                      std::chrono::milliseconds timeout) {
  int64_t hi = -1;
  if (watermark(*impl_->consumer, topic, partition, false, hi, Deadline(timeout)) != RdKafka::ERR_NO_ERROR)
    return std::nullopt;
  return hi;
}

void Consumer::close(std::chrono::milliseconds timeout) {
  if (!impl_ || impl_->closed) return;
  impl_->closed = true;
  // Not close(): it waits for the coordinator without a bound. The
  // background close serves the revoke hook on `q`, polled here.
  const Deadline deadline(timeout);
  std::unique_ptr<RdKafka::Queue> q(RdKafka::Queue::create(impl_->consumer.get()));
  if (std::unique_ptr<RdKafka::Error> e(impl_->consumer->close(q.get())); e) {
    spdlog::warn("leaving the consumer group: {}", e->str());
  } else {
    while (!impl_->consumer->closed() && !deadline.passed())
      std::unique_ptr<RdKafka::Message>(q->consume(50));
    if (!impl_->consumer->closed())
      spdlog::warn("leaving the consumer group did not finish within {} ms: the group drops this member after "
                   "its session timeout",
                   timeout.count());
  }
  joined_ = false;
}

}  // namespace lockstep
