#include "consumer_support.hpp"

namespace lockstep::kafka_detail {

std::vector<TopicPartition> convert(const std::vector<RdKafka::TopicPartition*>& ps) {
  std::vector<TopicPartition> out;
  for (auto* p : ps) out.push_back({p->topic(), p->partition(), p->offset()});
  return out;
}

Message to_message(RdKafka::Message& m) {
  Message out;
  out.topic = m.topic_name();
  out.partition = m.partition();
  out.offset = m.offset();
  const auto ts = m.timestamp();
  out.timestamp_ms = ts.type == RdKafka::MessageTimestamp::MSG_TIMESTAMP_NOT_AVAILABLE ? -1 : ts.timestamp;
  if (m.key_pointer() != nullptr) out.key = std::string(static_cast<const char*>(m.key_pointer()), m.key_len());
  if (m.payload() != nullptr) out.value.assign(static_cast<const char*>(m.payload()), m.len());
  if (auto* hs = m.headers()) {
    for (const auto& h : hs->get_all()) {
      Header hd;
      hd.name = h.key();
      if (h.value() != nullptr) hd.value = std::string(static_cast<const char*>(h.value()), h.value_size());
      out.headers.push_back(std::move(hd));
    }
  }
  return out;
}

// Not query_watermark_offsets(): librdkafka (2.0) bounds only its leader
// look-up by the timeout and then waits for the requests themselves, retries
// included (socket.timeout.ms each: half a minute when the broker stops
// answering). offsetsForTimes() with the logical offsets BEGINNING and END
// sends the same ListOffsets requests and returns at its deadline.
RdKafka::ErrorCode watermark(RdKafka::Handle& h, const std::string& topic, int32_t partition, bool low, int64_t& out,
                             const Deadline& deadline) {
  if (deadline.passed()) return RdKafka::ERR__TIMED_OUT;
  TpList l({{topic, partition, low ? RdKafka::Topic::OFFSET_BEGINNING : RdKafka::Topic::OFFSET_END}});
  if (const auto e = h.offsetsForTimes(l.v, deadline.left_ms()); e != RdKafka::ERR_NO_ERROR) return e;
  if (l.v[0]->err() != RdKafka::ERR_NO_ERROR) return l.v[0]->err();
  if (l.v[0]->offset() < 0) return RdKafka::ERR__BAD_MSG;
  out = l.v[0]->offset();
  return RdKafka::ERR_NO_ERROR;
}

RdKafka::ErrorCode watermarks(RdKafka::Handle& h, const std::string& topic, int32_t partition, int64_t& lo,
                              int64_t& hi, std::chrono::milliseconds timeout) {
  const Deadline deadline(timeout);
  if (const auto e = watermark(h, topic, partition, true, lo, deadline); e != RdKafka::ERR_NO_ERROR) return e;
  return watermark(h, topic, partition, false, hi, deadline);
}

std::unique_ptr<RdKafka::KafkaConsumer> assign_only_consumer(const std::string& brokers, const KafkaProps& props,
                                                             bool partition_eof) {
  auto conf = make_conf(brokers, props);
  force(*conf, "group.id", "lockstep-reader");  // required by the API; assign() joins no group
  force(*conf, "enable.auto.commit", "false");
  force(*conf, "enable.auto.offset.store", "false");
  if (partition_eof) force(*conf, "enable.partition.eof", "true");  // the end, even after a gap (e.g. transaction markers)
  std::string err;
  std::unique_ptr<RdKafka::KafkaConsumer> c(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!c) throw KafkaError("cannot create consumer: " + err);
  return c;
}

}  // namespace lockstep::kafka_detail
