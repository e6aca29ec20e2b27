// Message formats the worker publishes: dead letters (contract §5) and outcomes (§4).
#include "lockstep/engine.hpp"

#include <spdlog/spdlog.h>

namespace lockstep {

namespace {

// Bytes librdkafka counts against message.max.bytes: key, value and headers.
std::size_t message_bytes(const OutMessage& m) {
  std::size_t n = m.value.size() + (m.key ? m.key->size() : 0);
  for (const auto& h : m.headers) n += h.name.size() + (h.value ? h.value->size() : 0);
  return n;
}

// Room left for the record's own framing (varints, attributes, batch header).
constexpr std::size_t kFramingReserve = 512;
// A detail longer than this is cut (it is a human-readable sentence).
constexpr std::size_t kMaxDetailBytes = 4096;

std::string cut_utf8(const std::string& s, std::size_t max) {
  if (s.size() <= max) return s;
  std::size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;  // not inside a UTF-8 sequence
  return s.substr(0, n) + "...";
}

}  // namespace

std::size_t max_message_bytes(const KafkaProps& props) {
  return static_cast<std::size_t>(
      int_property(props, "message.max.bytes", static_cast<int64_t>(kDefaultMaxMessageBytes)));
}

OutMessage dead_letter_message(const DeadLetterRecord& d, const std::string& topic, std::size_t max_bytes) {
  Json v = {{"event_id", d.event_id},
            {"reason", d.reason},
            {"detail", cut_utf8(d.detail, kMaxDetailBytes)},
            {"source", {{"topic", d.src.topic}, {"partition", d.src.partition}, {"offset", d.src.offset}}},
            {"attempts", d.attempts},
            {"dead_lettered_at", d.created_at}};
  if (d.conflict) v["conflict"] = *d.conflict;
  const bool as_event = d.reason != "malformed" && d.event;

  OutMessage m;
  m.topic = topic;
  m.key = d.kafka_key;
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

  const auto dump = [](const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); };
  Json full = v;
  if (as_event)
    full["event"] = *d.event;
  else
    full["raw_base64"] = base64_encode(d.raw);
  m.value = dump(full);
  const std::size_t limit = max_bytes > kFramingReserve ? max_bytes - kFramingReserve : max_bytes;
  if (message_bytes(m) <= limit) return m;

  // Too large for the broker: the body says so and how large the event was;
  // the dead_letters row keeps every byte (`lockstep dlq show`).
  v["trimmed"] = true;
  v["original_bytes"] = d.raw.size();
  m.value = dump(v);
  if (message_bytes(m) <= limit) return m;
  // The event's own headers alone are too large: they go too (the row keeps them).
  const std::size_t carried = d.headers.size();
  m.headers.erase(m.headers.begin(), m.headers.begin() + static_cast<std::ptrdiff_t>(carried));
  v["headers_trimmed"] = carried;
  m.value = dump(v);
  return m;
}

DeadLetterRelay::Pass DeadLetterRelay::run_once(Store& store, std::size_t limit, const std::atomic<bool>* abort,
                                                const std::function<void(bool)>& publishing) {
  Pass pass;
  const auto r = store.relay_dead_letters(limit, [&](const std::vector<DeadLetterRecord>& recs) {
    std::vector<OutMessage> msgs;
    msgs.reserve(recs.size());
    for (const auto& rec : recs) msgs.push_back(dead_letter_message(rec, topic_, max_bytes_));
    if (publishing) publishing(true);
    const auto ds = producer_.send(msgs, send_timeout_, abort);
    if (publishing) publishing(false);
    std::vector<Store::PublishResult> out(ds.size());
    for (std::size_t i = 0; i < ds.size(); ++i) {
      out[i].delivered = ds[i].error.empty();
      out[i].permanent = ds[i].permanent;
      out[i].error = ds[i].error;
      if (out[i].delivered) continue;
      if (metrics_) metrics_->infra_error("kafka");
      spdlog::error("dead-letter publish failed for event {} ({}/{}@{}){}: {}", recs[i].event_id, recs[i].src.topic,
                    recs[i].src.partition, recs[i].src.offset, ds[i].permanent ? " (refused, deferred)" : "",
                    ds[i].error);
      pass.last_error = ds[i].error;
    }
    return out;
  });
  static_cast<Store::RelayResult&>(pass) = r;
  return pass;
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
