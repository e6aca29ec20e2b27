#include <spdlog/spdlog.h>

#include <librdkafka/rdkafka.h>

#include <condition_variable>
#include <mutex>
#include <shared_mutex>
#include <utility>

#include "common.hpp"

namespace lockstep {
using namespace kafka_detail;

namespace {
// Errors about the message itself: sending it again cannot succeed.
bool permanent_error(RdKafka::ErrorCode e) {
  switch (e) {
    case RdKafka::ERR_MSG_SIZE_TOO_LARGE:
    case RdKafka::ERR_INVALID_MSG_SIZE:
    case RdKafka::ERR_INVALID_MSG:
    case RdKafka::ERR_INVALID_RECORD:
    case RdKafka::ERR_RECORD_LIST_TOO_LARGE:
      return true;
    default:
      return false;
  }
}

struct Pending {
  std::function<void(const Delivery&)> done;
};

class DrCb : public RdKafka::DeliveryReportCb {
 public:
  void dr_cb(RdKafka::Message& m) override {
    std::unique_ptr<Pending> p(static_cast<Pending*>(m.msg_opaque()));
    if (!p) return;
    Delivery d;
    if (m.err() != RdKafka::ERR_NO_ERROR) {
      d.error = kafka_failure(m.err(), m.errstr());
      d.permanent = permanent_error(m.err());
    }
    d.partition = m.partition();
    d.offset = m.offset();
    d.timestamp_ms = m.timestamp().timestamp;
    p->done(d);
  }
};
}  // namespace

// A fatal error (e.g. librdkafka 2.0's idempotent producer losing its
// sequence numbers after requests timed out during a broker outage:
// OUT_OF_ORDER_SEQUENCE_NUMBER) makes a producer refuse every message for
// ever. It is then replaced by a fresh one: what the old one still held is
// reported as not delivered, so callers send it again (at-least-once, as
// after a crash). Readers use the current handle under a shared lock; the
// swap takes it exclusively and only for the pointer exchange.
struct Producer::Impl : public RdKafka::EventCb {
  HandleLog log{"rdkafka#producer"};  // first: outlives the handles
  DrCb dr;
  std::unique_ptr<RdKafka::Conf> conf;  // to build a replacement
  std::shared_mutex mu;
  std::shared_ptr<RdKafka::Producer> producer;

  std::shared_ptr<RdKafka::Producer> current() {
    std::shared_lock lk(mu);
    return producer;
  }

  void event_cb(RdKafka::Event& e) override {
    switch (e.type()) {
      case RdKafka::Event::EVENT_ERROR:
        if (e.fatal())
          spdlog::error("kafka producer: fatal error: {}: {}", RdKafka::err2str(e.err()), e.str());
        else
          spdlog::warn("kafka producer: {}: {}", RdKafka::err2str(e.err()), e.str());
        break;
      case RdKafka::Event::EVENT_LOG:
        log.log(e);
        break;
      default:
        break;
    }
  }

  // After a fatal error of the current handle: a fresh producer in its place;
  // the old one's messages are purged, which reports each as not delivered.
  void replace_if_fatal() {
    std::string why;
    if (current()->fatal_error(why) == RdKafka::ERR_NO_ERROR) return;
    std::shared_ptr<RdKafka::Producer> old;
    {
      std::unique_lock lk(mu);
      if (producer->fatal_error(why) == RdKafka::ERR_NO_ERROR) return;  // another thread did it
      std::string err;
      log.creating();
      std::unique_ptr<RdKafka::Producer> fresh(RdKafka::Producer::create(conf.get(), err));
      log.named(fresh ? std::optional(fresh->name()) : std::nullopt);
      if (!fresh) {
        spdlog::error("kafka producer: cannot replace the failed producer (tried again on the next send): {}", err);
        return;
      }
      old = std::exchange(producer, std::shared_ptr<RdKafka::Producer>(std::move(fresh)));
    }
    spdlog::warn("kafka producer: replaced after a fatal error ({}); what it still held is reported as not "
                 "delivered and sent again",
                 why);
    old->purge(RdKafka::Producer::PURGE_QUEUE | RdKafka::Producer::PURGE_INFLIGHT);
    old->poll(0);  // the purged messages' reports
  }
};

Producer::Producer(const std::string& brokers, const KafkaProps& props) : impl_(std::make_unique<Impl>()) {
  auto conf = make_conf(brokers, props);
  set_default(*conf, props, "enable.idempotence", "true");
  set_default(*conf, props, "acks", "all");
  set_default(*conf, props, "linger.ms", "5");
  set_default(*conf, props, "message.timeout.ms", "30000");
  set_default(*conf, props, "socket.timeout.ms", "10000");  // see Consumer: a wedged connection is replaced
  std::string err;
  if (conf->set("dr_cb", static_cast<RdKafka::DeliveryReportCb*>(&impl_->dr), err) != RdKafka::Conf::CONF_OK)
    throw KafkaError("dr_cb: " + err);
  if (conf->set("event_cb", static_cast<RdKafka::EventCb*>(impl_.get()), err) != RdKafka::Conf::CONF_OK)
    throw KafkaError("event_cb: " + err);
  impl_->log.creating();
  impl_->producer.reset(RdKafka::Producer::create(conf.get(), err));
  impl_->log.named(impl_->producer ? std::optional(impl_->producer->name()) : std::nullopt);
  if (!impl_->producer) throw KafkaError("cannot create producer: " + err);
  impl_->conf = std::move(conf);
}

Producer::~Producer() {
  if (impl_ && impl_->producer) {
    impl_->producer->flush(2000);
    impl_->producer->purge(RdKafka::Producer::PURGE_QUEUE | RdKafka::Producer::PURGE_INFLIGHT);
    impl_->producer->poll(0);  // fire remaining callbacks (purged) so opaques are freed
  }
}

void Producer::inject_fatal_error(const std::string& reason) {
  rd_kafka_test_fatal_error(impl_->current()->c_ptr(), RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                            reason.c_str());
}

void Producer::send_async(const OutMessage& m, std::function<void(const Delivery&)> done) {
  RdKafka::Headers* hs = nullptr;
  if (!m.headers.empty()) {
    hs = RdKafka::Headers::create();
    for (const auto& h : m.headers) {
      if (h.value)
        hs->add(h.name, h.value->data(), h.value->size());
      else
        hs->add(h.name, nullptr, 0);
    }
  }
  auto* p = new Pending{std::move(done)};
  impl_->replace_if_fatal();
  auto producer = impl_->current();
  for (int replaced = 0;;) {
    auto err = producer->produce(m.topic, m.partition, RdKafka::Producer::RK_MSG_COPY,
                                        const_cast<char*>(m.value.data()), m.value.size(),
                                        m.key ? m.key->data() : nullptr, m.key ? m.key->size() : 0, 0, hs, p);
    if (err == RdKafka::ERR_NO_ERROR) return;  // headers now owned by librdkafka
    if (err == RdKafka::ERR__QUEUE_FULL) {
      producer->poll(50);
      continue;
    }
    if (err == RdKafka::ERR__FATAL && replaced++ == 0) {
      impl_->replace_if_fatal();
      producer = impl_->current();
      continue;
    }
    delete hs;
    std::unique_ptr<Pending> owned(p);
    owned->done(Delivery{kafka_failure(err), permanent_error(err), -1, -1});
    return;
  }
}

std::vector<Delivery> Producer::send(const std::vector<OutMessage>& msgs, std::chrono::milliseconds timeout,
                                     const std::atomic<bool>* abort) {
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    std::size_t left;
    std::vector<Delivery> out;
  };
  auto st = std::make_shared<State>();
  st->left = msgs.size();
  st->out.assign(msgs.size(), Delivery{kafka_failure(RdKafka::ERR__TIMED_OUT, "not delivered: timed out"), false, -1, -1});
  for (std::size_t i = 0; i < msgs.size(); ++i) {
    send_async(msgs[i], [st, i](const Delivery& d) {
      std::lock_guard lk(st->mu);
      st->out[i] = d;
      --st->left;
      st->cv.notify_all();
    });
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    {
      std::lock_guard lk(st->mu);
      if (st->left == 0) break;
    }
    if (std::chrono::steady_clock::now() >= deadline || (abort && abort->load())) break;
    impl_->current()->poll(10);  // a replacement's purge reported the old handle's messages
  }
  std::lock_guard lk(st->mu);
  return st->out;
}

void Producer::poll(std::chrono::milliseconds timeout) {
  impl_->current()->poll(static_cast<int>(timeout.count()));
  impl_->replace_if_fatal();
}

bool Producer::flush(std::chrono::milliseconds timeout) {
  return impl_->current()->flush(static_cast<int>(timeout.count())) == RdKafka::ERR_NO_ERROR;
}

int64_t int_property(const KafkaProps& props, const std::string& key, int64_t fallback) {
  const auto it = props.find(key);
  if (it == props.end()) return fallback;
  try {
    const auto v = std::stoll(it->second);
    return v > 0 ? v : fallback;
  } catch (const std::exception&) {
    return fallback;
  }
}

}  // namespace lockstep
