// Topic administration through librdkafka's C Admin API (the C++ API has none).
#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>

#include "common.hpp"

namespace lockstep {
using namespace kafka_detail;

namespace {

// RAII for the C objects of one Admin request.
struct EventDel {
  void operator()(rd_kafka_event_t* e) const { rd_kafka_event_destroy(e); }
};
struct OptionsDel {
  void operator()(rd_kafka_AdminOptions_t* o) const { rd_kafka_AdminOptions_destroy(o); }
};
struct NewTopicDel {
  void operator()(rd_kafka_NewTopic_t* t) const { rd_kafka_NewTopic_destroy(t); }
};
struct ResourceDel {
  void operator()(rd_kafka_ConfigResource_t* r) const { rd_kafka_ConfigResource_destroy(r); }
};
struct DeleteTopicDel {
  void operator()(rd_kafka_DeleteTopic_t* t) const { rd_kafka_DeleteTopic_destroy(t); }
};
struct MetadataDel {
  void operator()(const rd_kafka_metadata_t* m) const { rd_kafka_metadata_destroy(m); }
};
using EventPtr = std::unique_ptr<rd_kafka_event_t, EventDel>;
using OptionsPtr = std::unique_ptr<rd_kafka_AdminOptions_t, OptionsDel>;
using MetadataPtr = std::unique_ptr<const rd_kafka_metadata_t, MetadataDel>;

int clamp_ms(std::chrono::milliseconds t) { return static_cast<int>(std::clamp<long long>(t.count(), 1, 3600000)); }

// Options carrying `timeout` as the request's and the operation's timeout.
OptionsPtr options(rd_kafka_t* rk, rd_kafka_admin_op_t op, std::chrono::milliseconds timeout) {
  OptionsPtr o(rd_kafka_AdminOptions_new(rk, op));
  char err[256];
  if (rd_kafka_AdminOptions_set_request_timeout(o.get(), clamp_ms(timeout), err, sizeof err) ||
      ((op == RD_KAFKA_ADMIN_OP_CREATETOPICS || op == RD_KAFKA_ADMIN_OP_DELETETOPICS) &&
       rd_kafka_AdminOptions_set_operation_timeout(o.get(), clamp_ms(timeout), err, sizeof err)))
    throw KafkaError(std::string("admin options: ") + err);
  return o;
}

// Sends one request of kind `op` (`send(options, queue)` calls the Admin API)
// and waits for its result event; throws on a request-level error.
template <typename Send>
EventPtr request(rd_kafka_t* rk, rd_kafka_admin_op_t op, std::chrono::milliseconds timeout, const std::string& what,
                 Send send) {
  const QueuePtr q(rd_kafka_queue_new(rk));
  const auto opts = options(rk, op, timeout);
  send(opts.get(), q.get());
  // The request itself times out at `timeout`; the extra second lets its
  // timeout event arrive instead of our own.
  EventPtr ev(rd_kafka_queue_poll(q.get(), clamp_ms(timeout) + 1000));
  if (!ev) throw KafkaError(what + ": no answer from the cluster");
  if (rd_kafka_event_error(ev.get())) throw KafkaError(what + ": " + rd_kafka_event_error_string(ev.get()));
  return ev;
}

// Metadata of all topics: asking for named topics could create them on a
// broker with auto.create.topics.enable.
MetadataPtr all_metadata(rd_kafka_t* rk, std::chrono::milliseconds timeout) {
  const rd_kafka_metadata_t* raw = nullptr;
  const auto err = rd_kafka_metadata(rk, 1, nullptr, &raw, clamp_ms(timeout));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) throw KafkaError(std::string("metadata: ") + rd_kafka_err2str(err));
  return MetadataPtr(raw);
}

// The answer to a CreateTopics or DeleteTopics request (`as_result` and
// `topics_of` are that API's accessors): per name of `names`, in order,
// success or the broker's error for that topic.
template <typename Result>
std::vector<KafkaFailure> topic_errors(rd_kafka_event_t* ev, const Result* (*as_result)(rd_kafka_event_t*),
                                      const rd_kafka_topic_result_t** (*topics_of)(const Result*, size_t*),
                                      const std::string& what, const std::vector<std::string>& names) {
  const Result* res = as_result(ev);
  if (!res) throw KafkaError(what + ": unexpected answer");
  size_t n = 0;
  const auto* results = topics_of(res, &n);
  std::vector<KafkaFailure> out(names.size());
  for (size_t i = 0; i < n; ++i) {
    const std::string name = rd_kafka_topic_result_name(results[i]);
    const auto e = rd_kafka_topic_result_error(results[i]);
    const char* text = rd_kafka_topic_result_error_string(results[i]);
    for (size_t j = 0; j < names.size(); ++j)
      if (names[j] == name && e != RD_KAFKA_RESP_ERR_NO_ERROR)
        out[j] = kafka_failure(e, text && *text ? text : rd_kafka_err2str(e));
  }
  return out;
}

}  // namespace

struct Admin::Impl : public RdKafka::EventCb {
  HandleLog log{"rdkafka#producer"};  // first: outlives the handle
  std::unique_ptr<RdKafka::Producer> handle;  // owns the rd_kafka_t the C API works on
  rd_kafka_t* rk() const { return handle->c_ptr(); }
  // librdkafka's own log lines go to the process's log, not raw to stderr;
  // its errors (a broker down) show as the calls' exceptions.
  void event_cb(RdKafka::Event& e) override {
    if (e.type() == RdKafka::Event::EVENT_LOG) log.log(e);
  }
};

Admin::Admin(const std::string& brokers, const KafkaProps& props) : impl_(std::make_unique<Impl>()) {
  auto conf = make_conf(brokers, props);
  std::string err;
  if (conf->set("event_cb", static_cast<RdKafka::EventCb*>(impl_.get()), err) != RdKafka::Conf::CONF_OK)
    throw KafkaError("event_cb: " + err);
  impl_->log.creating();
  impl_->handle.reset(RdKafka::Producer::create(conf.get(), err));
  impl_->log.named(impl_->handle ? std::optional(impl_->handle->name()) : std::nullopt);
  if (!impl_->handle) throw KafkaError("admin client: " + err);
}

Admin::~Admin() = default;

std::vector<TopicDescription> Admin::describe(const std::vector<std::string>& topics,
                                              std::chrono::milliseconds timeout) {
  const auto md = all_metadata(impl_->rk(), timeout);
  std::vector<TopicDescription> out;
  for (const auto& name : topics) {
    TopicDescription d;
    d.name = name;
    for (int i = 0; i < md->topic_cnt; ++i) {
      const auto& t = md->topics[i];
      if (name != t.topic || t.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) continue;
      d.exists = true;
      d.partitions = t.partition_cnt;
      for (int p = 0; p < t.partition_cnt; ++p)
        if (t.partitions[p].id == 0) d.replication_factor = t.partitions[p].replica_cnt;
    }
    out.push_back(d);
  }
  return out;
}

std::vector<KafkaFailure> Admin::create(const std::vector<NewTopic>& topics, std::chrono::milliseconds timeout) {
  if (topics.empty()) return {};
  std::vector<std::unique_ptr<rd_kafka_NewTopic_t, NewTopicDel>> owned;
  std::vector<rd_kafka_NewTopic_t*> raw;
  char err[512];
  for (const auto& t : topics) {
    owned.emplace_back(rd_kafka_NewTopic_new(t.name.c_str(), t.partitions, t.replication_factor, err, sizeof err));
    if (!owned.back()) throw KafkaError("topic " + t.name + ": " + err);
    for (const auto& [k, v] : t.configs)
      if (const auto e = rd_kafka_NewTopic_set_config(owned.back().get(), k.c_str(), v.c_str()))
        throw KafkaError("topic " + t.name + ", config " + k + ": " + rd_kafka_err2str(e));
    raw.push_back(owned.back().get());
  }
  const auto ev = request(impl_->rk(), RD_KAFKA_ADMIN_OP_CREATETOPICS, timeout, "create topics",
                          [&](rd_kafka_AdminOptions_t* opts, rd_kafka_queue_t* q) {
                            rd_kafka_CreateTopics(impl_->rk(), raw.data(), raw.size(), opts, q);
                          });
  std::vector<std::string> names;
  for (const auto& t : topics) names.push_back(t.name);
  return topic_errors(ev.get(), rd_kafka_event_CreateTopics_result, rd_kafka_CreateTopics_result_topics,
                      "create topics", names);
}

std::vector<KafkaFailure> Admin::remove(const std::vector<std::string>& topics, std::chrono::milliseconds timeout) {
  if (topics.empty()) return {};
  std::vector<std::unique_ptr<rd_kafka_DeleteTopic_t, DeleteTopicDel>> owned;
  std::vector<rd_kafka_DeleteTopic_t*> raw;
  for (const auto& t : topics) {
    owned.emplace_back(rd_kafka_DeleteTopic_new(t.c_str()));
    raw.push_back(owned.back().get());
  }
  const auto ev = request(impl_->rk(), RD_KAFKA_ADMIN_OP_DELETETOPICS, timeout, "delete topics",
                          [&](rd_kafka_AdminOptions_t* opts, rd_kafka_queue_t* q) {
                            rd_kafka_DeleteTopics(impl_->rk(), raw.data(), raw.size(), opts, q);
                          });
  return topic_errors(ev.get(), rd_kafka_event_DeleteTopics_result, rd_kafka_DeleteTopics_result_topics,
                      "delete topics", topics);
}

int Admin::broker_count(std::chrono::milliseconds timeout) { return all_metadata(impl_->rk(), timeout)->broker_cnt; }

std::map<std::string, TopicConfigValue> Admin::configs(const std::string& topic, std::chrono::milliseconds timeout) {
  std::unique_ptr<rd_kafka_ConfigResource_t, ResourceDel> resource(
      rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic.c_str()));
  rd_kafka_ConfigResource_t* raw = resource.get();
  const std::string what = "describe configs of " + topic;
  const auto ev = request(impl_->rk(), RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, timeout, what,
                          [&](rd_kafka_AdminOptions_t* opts, rd_kafka_queue_t* q) {
                            rd_kafka_DescribeConfigs(impl_->rk(), &raw, 1, opts, q);
                          });
  const auto* res = rd_kafka_event_DescribeConfigs_result(ev.get());
  if (!res) throw KafkaError(what + ": unexpected answer");
  size_t n = 0;
  const auto* resources = rd_kafka_DescribeConfigs_result_resources(res, &n);
  std::map<std::string, TopicConfigValue> out;
  for (size_t i = 0; i < n; ++i) {
    if (const auto e = rd_kafka_ConfigResource_error(resources[i])) {
      const char* text = rd_kafka_ConfigResource_error_string(resources[i]);
      throw KafkaError(what + ": " + (text && *text ? text : rd_kafka_err2str(e)));
    }
    size_t m = 0;
    const auto* entries = rd_kafka_ConfigResource_configs(resources[i], &m);
    for (size_t j = 0; j < m; ++j) {
      const char* value = rd_kafka_ConfigEntry_value(entries[j]);
      out[rd_kafka_ConfigEntry_name(entries[j])] = {value ? value : "",
                                                     rd_kafka_ConfigEntry_is_default(entries[j]) != 0};
    }
  }
  return out;
}

}  // namespace lockstep
