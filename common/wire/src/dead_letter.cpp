// The dead-letter message (docs/operations.md "The dead-letter record"): written by the worker's relay, read by
// `lockstep dlq drain` and the invariant checker.
#include "lockstep/wire.hpp"

namespace lockstep::wire {

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

std::optional<int64_t> to_int(const std::optional<std::string>& s) {
  if (!s || s->empty()) return std::nullopt;
  try {
    std::size_t pos = 0;
    const long long v = std::stoll(*s, &pos);
    if (pos != s->size()) return std::nullopt;
    return v;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// The event's own headers: every header not Lockstep's, and a replay's.
bool carried_over(const Header& h) { return !h.name.starts_with(header::prefix) || is_replay_header(h.name); }

}  // namespace

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
  add(header::reason, d.reason);
  add(header::event_id, d.event_id);
  add(header::source_topic, d.src.topic);
  add(header::source_partition, std::to_string(d.src.partition));
  add(header::source_offset, std::to_string(d.src.offset));
  add(header::source_timestamp, std::to_string(d.src.timestamp_ms));
  add(header::consumer_group, d.consumer_group);
  add(header::attempts, std::to_string(d.attempts));

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

std::variant<DeadLetterMessage, std::string> parse_dead_letter(const Message& m) {
  const Json v = Json::parse(m.value, nullptr, false);
  if (v.is_discarded() || !v.is_object()) return std::string("value is not a JSON object");
  auto str = [&](const char* k) -> std::optional<std::string> {
    if (v.contains(k) && v[k].is_string()) return v[k].get<std::string>();
    return std::nullopt;
  };
  auto integer = [&](const Json& o, const char* k) -> std::optional<int64_t> {
    if (o.contains(k) && o[k].is_number_integer()) return o[k].get<int64_t>();
    return std::nullopt;
  };
  DeadLetterMessage out;
  DeadLetterRecord& d = out.record;
  const auto event_id = str("event_id");
  if (!event_id || event_id->empty()) return std::string("no event_id");
  d.event_id = *event_id;
  const auto reason = str("reason");
  if (!reason || !dead_reason_from_string(*reason)) return std::string("no valid reason");
  d.reason = *reason;
  d.detail = str("detail").value_or("");
  if (v.contains("event") && v["event"].is_object()) {
    d.event = v["event"];
    d.raw = v["event"].dump(-1, ' ', false, Json::error_handler_t::replace);
    auto field = [&](const char* k) -> std::optional<std::string> {
      const auto& e = *d.event;
      if (e.contains(k) && e[k].is_string()) return e[k].get<std::string>();
      return std::nullopt;
    };
    d.aggregate_type = field("aggregate_type");
    d.aggregate_id = field("aggregate_id");
  } else if (const auto b64 = str("raw_base64")) {
    auto raw = base64_decode(*b64);
    if (!raw) return std::string("raw_base64 is not base64");
    d.raw = std::move(*raw);
  } else if (v.contains("trimmed") && v["trimmed"] == true) {
    // Too large for the broker: the message says so; the bytes stayed in the
    // worker's dead_letters row.
    out.trimmed = true;
    out.original_bytes = integer(v, "original_bytes");
    out.headers_trimmed = integer(v, "headers_trimmed").value_or(0);
  } else {
    return std::string("neither event nor raw_base64");
  }
  for (const char* name : {header::event_id, header::reason})
    if (!header_value(m.headers, name)) return std::string("no ") + name + " header";
  if (v.contains("source") && v["source"].is_object()) {
    const auto& s = v["source"];
    if (s.contains("topic") && s["topic"].is_string()) d.src.topic = s["topic"].get<std::string>();
    if (s.contains("partition") && s["partition"].is_number_integer()) d.src.partition = s["partition"].get<int32_t>();
    if (s.contains("offset") && s["offset"].is_number_integer()) d.src.offset = s["offset"].get<int64_t>();
  }
  if (v.contains("attempts") && v["attempts"].is_number_integer()) d.attempts = v["attempts"].get<int>();
  if (v.contains("conflict") && v["conflict"].is_object()) d.conflict = v["conflict"];
  d.created_at = str("dead_lettered_at").value_or("");
  d.kafka_key = m.key;
  for (const auto& h : m.headers)
    if (carried_over(h)) d.headers.push_back(h);
  d.src.timestamp_ms = to_int(header_value(m.headers, header::source_timestamp)).value_or(-1);
  d.consumer_group = header_value(m.headers, header::consumer_group).value_or("");
  if (d.src.topic.empty()) d.src.topic = header_value(m.headers, header::source_topic).value_or("");
  return out;
}

}  // namespace lockstep::wire
