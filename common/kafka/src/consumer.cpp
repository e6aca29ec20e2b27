#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <mutex>
#include <thread>

#include <algorithm>
#include <map>

#include "common.hpp"

namespace lockstep {
using namespace kafka_detail;

namespace {

// Milliseconds left until a deadline (at least 1), for librdkafka's int timeouts.
struct Deadline {
  std::chrono::steady_clock::time_point at;
  explicit Deadline(std::chrono::milliseconds d) : at(std::chrono::steady_clock::now() + d) {}
  int left_ms() const {
    return static_cast<int>(std::max<long>(
        1, std::chrono::duration_cast<std::chrono::milliseconds>(at - std::chrono::steady_clock::now()).count()));
  }
  bool passed() const { return std::chrono::steady_clock::now() >= at; }
};

std::vector<TopicPartition> convert(const std::vector<RdKafka::TopicPartition*>& ps) {
  std::vector<TopicPartition> out;
  for (auto* p : ps) out.push_back({p->topic(), p->partition(), p->offset()});
  return out;
}

Message to_message(RdKafka::Message& m) {  // not const: headers() is not
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

// Owns a vector of librdkafka TopicPartition pointers.
struct TpList {
  std::vector<RdKafka::TopicPartition*> v;
  explicit TpList(const std::vector<TopicPartition>& parts) {
    for (const auto& p : parts) v.push_back(RdKafka::TopicPartition::create(p.topic, p.partition, p.offset));
  }
  ~TpList() { RdKafka::TopicPartition::destroy(v); }
  TpList(const TpList&) = delete;
  TpList& operator=(const TpList&) = delete;
};


// Low and high watermark of a partition, asked of its leader now, within
// `timeout`. Not query_watermark_offsets(): librdkafka (2.0) bounds only its
// leader look-up by the timeout and then waits for the requests themselves,
// retries included (socket.timeout.ms each: half a minute when the broker
// stops answering). offsetsForTimes() with the logical offsets BEGINNING and
// END sends the same ListOffsets requests and returns at its deadline.
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
}  // namespace

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

struct Consumer::Impl : public RdKafka::RebalanceCb, public RdKafka::EventCb {
  Consumer* self = nullptr;
  Hooks hooks;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer;
  bool closed = false;
  std::mutex commit_mu;
  QueuePtr unanswered;  // the queue of a synchronous commit still waiting for its answer

  void rebalance_cb(RdKafka::KafkaConsumer* c, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& partitions) override {
    // cooperative-sticky hands over only the partitions that move, and
    // librdkafka refuses assign()/unassign() then: the whole assignment would
    // be dropped and re-fetched on every member at every rebalance.
    const bool cooperative = c->rebalance_protocol() == "COOPERATIVE";
    auto parts = convert(partitions);
    if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
      if (hooks.on_assign) hooks.on_assign(parts);
      if (cooperative) {
        if (std::unique_ptr<RdKafka::Error> e(c->incremental_assign(partitions)); e)
          report_assignment_error("incremental assign", kafka_failure(*e));
      } else if (const auto e = c->assign(partitions); e != RdKafka::ERR_NO_ERROR) {
        report_assignment_error("assign", kafka_failure(e));
      }
      self->joined_ = true;
    } else {
      if (hooks.on_revoke) hooks.on_revoke(parts, c->assignment_lost());
      if (cooperative) {
        if (std::unique_ptr<RdKafka::Error> e(c->incremental_unassign(partitions)); e)
          spdlog::warn("kafka: incremental unassign failed: {}", e->str());
      } else if (const auto e = c->unassign(); e != RdKafka::ERR_NO_ERROR) {
        spdlog::warn("kafka: unassign failed: {}", RdKafka::err2str(e));
      }
      // Still a member of the group while re-joining: readiness follows the
      // next assignment; a revoke alone does not make the worker not-ready.
    }
  }

  // librdkafka refused an assignment: the member would own partitions it
  // never fetches (they would stall until it leaves), so this is fatal: the
  // worker stops and its restart joins the group afresh.
  void report_assignment_error(const char* what, KafkaFailure err) {
    spdlog::error("kafka: {} failed: {}", what, err.str());
    err.message = std::string(what) + " failed: " + err.str();
    err.fatal = true;
    if (hooks.on_error) hooks.on_error(err);
  }

  void event_cb(RdKafka::Event& e) override {
    switch (e.type()) {
      case RdKafka::Event::EVENT_ERROR: {
        auto f = kafka_failure(e.err());
        f.message = RdKafka::err2str(e.err()) + ": " + e.str();
        f.fatal = e.fatal();  // librdkafka's word, whatever the code
        if (hooks.on_error) hooks.on_error(f);
        break;
      }
      case RdKafka::Event::EVENT_LOG:
        log_event("kafka consumer", e);
        break;
      default:
        break;
    }
  }
};

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
  impl_->consumer.reset(RdKafka::KafkaConsumer::create(conf.get(), err));
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

void Consumer::pause(const std::vector<TopicPartition>& parts) {
  if (parts.empty()) return;
  TpList l(parts);
  impl_->consumer->pause(l.v);
}

void Consumer::resume(const std::vector<TopicPartition>& parts) {
  if (parts.empty()) return;
  TpList l(parts);
  impl_->consumer->resume(l.v);
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

namespace {

// A consumer for assign() only: joins no group, commits nothing.
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

}  // namespace

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
