// Message formats the worker publishes: dead letters (contract §5) and outcomes (§4).
#include "lockstep/engine.hpp"

#include <spdlog/spdlog.h>

namespace lockstep {

OutMessage dead_letter_message(const DeadLetterRecord& d, const std::string& topic) {
  Json v = {{"event_id", d.event_id},
            {"reason", d.reason},
            {"detail", d.detail},
            {"source", {{"topic", d.src.topic}, {"partition", d.src.partition}, {"offset", d.src.offset}}},
            {"attempts", d.attempts},
            {"dead_lettered_at", d.created_at}};
  if (d.reason != "malformed" && d.event)
    v["event"] = *d.event;
  else
    v["raw_base64"] = base64_encode(d.raw);
  if (d.conflict) v["conflict"] = *d.conflict;

  OutMessage m;
  m.topic = topic;
  m.key = d.kafka_key;
  m.value = v.dump(-1, ' ', false, Json::error_handler_t::replace);
  m.headers = d.headers;  // the original event's own headers, unchanged
  auto add = [&](const char* name, std::string value) { m.headers.push_back(Header{name, std::move(value)}); };
  add("lockstep.reason", d.reason);
  add("lockstep.event_id", d.event_id);
  add("lockstep.source.topic", d.src.topic);
  add("lockstep.source.partition", std::to_string(d.src.partition));
  add("lockstep.source.offset", std::to_string(d.src.offset));
  add("lockstep.source.timestamp", std::to_string(d.src.timestamp_ms));
  add("lockstep.consumer.group", d.consumer_group);
  add("lockstep.attempts", std::to_string(d.attempts));
  return m;
}

std::size_t DeadLetterRelay::run_once(Store& store, std::size_t limit) {
  return store.relay_dead_letters(limit, [&](const std::vector<DeadLetterRecord>& recs) {
    std::vector<OutMessage> msgs;
    msgs.reserve(recs.size());
    for (const auto& r : recs) msgs.push_back(dead_letter_message(r, topic_));
    const auto ds = producer_.send(msgs, std::chrono::milliseconds(15000));
    for (std::size_t i = 0; i < ds.size(); ++i) {
      if (ds[i].error.empty()) continue;
      if (metrics_) metrics_->infra_error("kafka");
      spdlog::error("dead-letter publish failed for event {} ({}/{}@{}): {}", recs[i].event_id, recs[i].src.topic,
                    recs[i].src.partition, recs[i].src.offset, ds[i].error);
      return false;
    }
    return true;
  });
}

OutMessage outcome_message(const Work& w, const ItemResult& r, const std::string& topic) {
  Json v = {{"event_id", idempotency_key(w)}, {"outcome", to_string(r.outcome)}};
  if (const auto* e = w.event()) {
    v["aggregate_type"] = e->aggregate_type;
    v["aggregate_id"] = e->aggregate_id;
  } else {
    v["aggregate_type"] = nullptr;
    v["aggregate_id"] = nullptr;
  }
  if (r.outcome == Outcome::dead_lettered && r.reason) v["reason"] = to_string(*r.reason);
  if (r.version) v["version"] = *r.version;
  v["state"] = r.state ? Json(*r.state) : Json(nullptr);
  if (r.outcome == Outcome::duplicate && r.first) {
    Json f = {{"outcome", r.first->outcome}};
    if (r.first->reason) f["reason"] = *r.first->reason;
    if (r.first->version) f["version"] = *r.first->version;
    f["state"] = r.first->state ? Json(*r.first->state) : Json(nullptr);
    v["first"] = std::move(f);
  }
  OutMessage m;
  m.topic = topic;
  m.key = w.kafka_key;
  m.value = v.dump(-1, ' ', false, Json::error_handler_t::replace);
  return m;
}

}  // namespace lockstep
