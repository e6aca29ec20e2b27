#include <spdlog/spdlog.h>

#include <condition_variable>
#include <mutex>

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
      d.error = m.errstr();
      d.permanent = permanent_error(m.err());
    }
    d.partition = m.partition();
    d.offset = m.offset();
    d.timestamp_ms = m.timestamp().timestamp;
    p->done(d);
  }
};
}  // namespace

struct Producer::Impl {
  DrCb dr;
  std::unique_ptr<RdKafka::Producer> producer;
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
  impl_->producer.reset(RdKafka::Producer::create(conf.get(), err));
  if (!impl_->producer) throw KafkaError("cannot create producer: " + err);
}

Producer::~Producer() {
  if (impl_ && impl_->producer) {
    impl_->producer->flush(2000);
    impl_->producer->purge(RdKafka::Producer::PURGE_QUEUE | RdKafka::Producer::PURGE_INFLIGHT);
    impl_->producer->poll(0);  // fire remaining callbacks (purged) so opaques are freed
  }
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
  for (;;) {
    auto err = impl_->producer->produce(m.topic, m.partition, RdKafka::Producer::RK_MSG_COPY,
                                        const_cast<char*>(m.value.data()), m.value.size(),
                                        m.key ? m.key->data() : nullptr, m.key ? m.key->size() : 0, 0, hs, p);
    if (err == RdKafka::ERR_NO_ERROR) return;  // headers now owned by librdkafka
    if (err == RdKafka::ERR__QUEUE_FULL) {
      impl_->producer->poll(50);
      continue;
    }
    delete hs;
    std::unique_ptr<Pending> owned(p);
    owned->done(Delivery{RdKafka::err2str(err), permanent_error(err), -1, -1});
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
  st->out.assign(msgs.size(), Delivery{"not delivered: timed out", false, -1, -1});
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
    impl_->producer->poll(10);
  }
  std::lock_guard lk(st->mu);
  return st->out;
}

void Producer::poll(std::chrono::milliseconds timeout) { impl_->producer->poll(static_cast<int>(timeout.count())); }

bool Producer::flush(std::chrono::milliseconds timeout) {
  return impl_->producer->flush(static_cast<int>(timeout.count())) == RdKafka::ERR_NO_ERROR;
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
