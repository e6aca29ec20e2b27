// Readers that join no group: read_topics() and TopicTail.
#include <spdlog/spdlog.h>

#include <map>
#include <thread>

#include "consumer_support.hpp"

namespace lockstep {
using namespace kafka_detail;

std::vector<Message> read_topics(const std::string& brokers, const KafkaProps& props,
                                 const std::vector<std::string>& topics, std::chrono::milliseconds timeout) {
  const Deadline deadline(timeout);
  auto left_ms = [&] { return deadline.left_ms(); };
  auto c = assign_only_consumer(brokers, props, true);

  RdKafka::Metadata* raw = nullptr;
  if (const auto e = c->metadata(true, nullptr, &raw, left_ms()); e != RdKafka::ERR_NO_ERROR)
    throw KafkaError("reading topic metadata from " + brokers + ": " + RdKafka::err2str(e));
  std::unique_ptr<RdKafka::Metadata> md(raw);
  std::map<TopicPartition, int64_t> end;  // partition -> high watermark still to reach
  std::vector<TopicPartition> start;
  for (const auto* t : *md->topics()) {
    if (std::find(topics.begin(), topics.end(), t->topic()) == topics.end()) continue;
    for (const auto* p : *t->partitions()) {
      int64_t lo = -1, hi = -1;
      if (const auto e = watermarks(*c, t->topic(), p->id(), lo, hi, std::chrono::milliseconds(left_ms()));
          e != RdKafka::ERR_NO_ERROR)
        throw KafkaError("watermarks of " + t->topic() + "/" + std::to_string(p->id()) + ": " + RdKafka::err2str(e));
      if (hi <= lo) continue;
      start.push_back({t->topic(), p->id(), lo});
      end[{t->topic(), p->id()}] = hi;
    }
  }
  std::vector<Message> out;
  if (start.empty()) return out;
  {
    TpList l(start);
    if (const auto e = c->assign(l.v); e != RdKafka::ERR_NO_ERROR)
      throw KafkaError("assign: " + RdKafka::err2str(e));
  }
  while (!end.empty()) {
    if (deadline.passed()) {
      std::string where;
      for (const auto& [tp, hi] : end) where += " " + tp.topic + "/" + std::to_string(tp.partition);
      throw KafkaError("reading topics: not at the end within " + std::to_string(timeout.count()) + " ms:" + where);
    }
    std::unique_ptr<RdKafka::Message> m(c->consume(100));
    if (!m || m->err() == RdKafka::ERR__TIMED_OUT) continue;
    if (m->err() == RdKafka::ERR__PARTITION_EOF) {
      const auto it = end.find({m->topic_name(), m->partition()});
      if (it != end.end() && m->offset() >= it->second) end.erase(it);
      continue;
    }
    if (m->err() != RdKafka::ERR_NO_ERROR) {
      spdlog::warn("reading {}/{}: {}", m->topic_name(), m->partition(), m->errstr());
      continue;
    }
    const auto it = end.find({m->topic_name(), m->partition()});
    if (it == end.end() || m->offset() >= it->second) continue;
    out.push_back(to_message(*m));
    if (m->offset() + 1 >= it->second) end.erase(it);
  }
  c->close();
  return out;
}

struct TopicTail::Impl {
  std::unique_ptr<RdKafka::KafkaConsumer> c;
};

TopicTail::TopicTail(const std::string& brokers, const KafkaProps& props, const std::string& topic,
                     std::chrono::milliseconds timeout)
    : impl_(std::make_unique<Impl>()) {
  const Deadline deadline(timeout);
  auto left_ms = [&] { return deadline.left_ms(); };
  impl_->c = assign_only_consumer(brokers, props, false);
  const Deadline exists_by(std::min(timeout, std::chrono::milliseconds(5000)));
  auto& c = *impl_->c;
  std::vector<TopicPartition> start;
  for (;;) {
    RdKafka::Metadata* raw = nullptr;
    if (const auto e = c.metadata(true, nullptr, &raw, left_ms()); e != RdKafka::ERR_NO_ERROR)
      throw KafkaError("reading topic metadata from " + brokers + ": " + RdKafka::err2str(e));
    std::unique_ptr<RdKafka::Metadata> md(raw);
    for (const auto* t : *md->topics()) {
      if (t->topic() != topic || t->err() != RdKafka::ERR_NO_ERROR) continue;
      for (const auto* p : *t->partitions()) {
        int64_t lo = -1, hi = -1;
        if (const auto e = watermarks(c, topic, p->id(), lo, hi, std::chrono::milliseconds(left_ms()));
            e != RdKafka::ERR_NO_ERROR)
          throw KafkaError("watermarks of " + topic + "/" + std::to_string(p->id()) + ": " + RdKafka::err2str(e));
        start.push_back({topic, p->id(), hi});
      }
    }
    if (!start.empty()) break;
    // A topic that is still missing after a few seconds is not about to appear.
    if (exists_by.passed()) throw KafkaError("topic " + topic + " does not exist on " + brokers);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // metadata may lag a topic's creation
  }
  TpList l(start);
  if (const auto e = c.assign(l.v); e != RdKafka::ERR_NO_ERROR) throw KafkaError("assign: " + RdKafka::err2str(e));
}

TopicTail::~TopicTail() {
  if (impl_ && impl_->c) impl_->c->close();
}

std::optional<Message> TopicTail::poll(std::chrono::milliseconds timeout) {
  std::unique_ptr<RdKafka::Message> m(impl_->c->consume(static_cast<int>(timeout.count())));
  if (!m || m->err() == RdKafka::ERR__TIMED_OUT || m->err() == RdKafka::ERR__PARTITION_EOF) return std::nullopt;
  if (m->err() != RdKafka::ERR_NO_ERROR) {
    spdlog::warn("reading {}/{}: {}", m->topic_name(), m->partition(), m->errstr());
    return std::nullopt;
  }
  return to_message(*m);
}

}  // namespace lockstep
