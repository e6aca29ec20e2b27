#include "lockstep/dlq.hpp"

#include <cctype>
#include <ctime>

#include "lockstep/engine.hpp"

namespace lockstep::dlq {

namespace {

constexpr std::size_t kMaxEventIdChars = 128;  // contract §2

bool is_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

std::size_t code_points(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += !is_continuation(c);
  return n;
}

// The first `n` code points of `s`.
std::string prefix_code_points(const std::string& s, std::size_t n) {
  std::size_t seen = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (!is_continuation(static_cast<unsigned char>(s[i]))) {
      if (seen == n) return s.substr(0, i);
      ++seen;
    }
  }
  return s;
}

std::optional<std::string> header(const std::vector<Header>& hs, const std::string& name) {
  for (const auto& h : hs)
    if (h.name == name) return h.value;
  return std::nullopt;
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

bool digits(const std::string& s, std::size_t pos, std::size_t n) {
  if (pos + n > s.size()) return false;
  for (std::size_t i = pos; i < pos + n; ++i)
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
  return true;
}

int num(const std::string& s, std::size_t pos, std::size_t n) { return std::stoi(s.substr(pos, n)); }

}  // namespace

std::string replay_event_id(const std::string& event_id, int64_t dead_letter_id) {
  const std::string suffix = "~replay-" + std::to_string(dead_letter_id);
  const std::size_t room = kMaxEventIdChars - suffix.size();
  if (code_points(event_id) <= room) return event_id + suffix;
  return prefix_code_points(event_id, room) + suffix;
}

std::optional<std::string> replay_refusal(const DeadLetterRecord& d, VersionMode mode) {
  if (d.status != "open") return "it is " + d.status + ", not open";
  if (d.reason == "malformed")
    return "it is malformed: replaying the same bytes can only fail again; fix the event and emit it anew, then "
           "discard this one";
  if (!d.event || !d.event->is_object()) return "it has no stored event to replay";
  if (mode != VersionMode::keep && d.reason != "version_conflict")
    return std::string(mode == VersionMode::rebase ? "--rebase" : "--no-version-check") +
           " applies to version_conflict dead letters only, and this one is " + d.reason;
  if (d.src.topic.empty()) return "its source topic is unknown (pass --topic)";
  return std::nullopt;
}

OutMessage replay_message(const DeadLetterRecord& d, VersionMode mode, const Snapshot& current,
                          const std::string& topic, const std::string& by) {
  // The original bytes when they parse (the stored jsonb is normalised), else the stored event.
  Json ev = Json::parse(d.raw, nullptr, false);
  if (ev.is_discarded() || !ev.is_object()) ev = d.event ? *d.event : Json::object();
  const std::string replay_id = replay_event_id(d.event_id, d.id);
  ev["event_id"] = replay_id;
  ev["replay_of"] = d.event_id;
  switch (mode) {
    case VersionMode::keep:
      break;
    case VersionMode::rebase:
      ev["expected_version"] = current.exists ? current.version : 0;
      if (ev.contains("expected_state")) {
        if (current.exists)
          ev["expected_state"] = current.state;
        else
          ev.erase("expected_state");
      }
      break;
    case VersionMode::drop:
      ev.erase("expected_version");
      break;
  }
  OutMessage m;
  m.topic = topic;
  m.key = d.kafka_key;
  if (!m.key && d.aggregate_type && d.aggregate_id) m.key = *d.aggregate_type + ":" + *d.aggregate_id;
  m.value = ev.dump(-1, ' ', false, Json::error_handler_t::replace);
  for (const auto& h : d.headers)
    if (h.name.rfind("lockstep.replay.", 0) != 0) m.headers.push_back(h);  // a replay of a replay: the newest link
  m.headers.push_back(Header{"lockstep.replay.of", d.event_id});
  m.headers.push_back(Header{"lockstep.replay.dead_letter_id", std::to_string(d.id)});
  m.headers.push_back(Header{"lockstep.replay.by", by});
  return m;
}

std::variant<DeadLetterRecord, std::string> parse_dead_letter_message(const Message& m) {
  const Json v = Json::parse(m.value, nullptr, false);
  if (v.is_discarded() || !v.is_object()) return std::string("value is not a JSON object");
  auto str = [&](const char* k) -> std::optional<std::string> {
    if (v.contains(k) && v[k].is_string()) return v[k].get<std::string>();
    return std::nullopt;
  };
  DeadLetterRecord d;
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
    // worker's dead_letters row. Imported without them, the detail says why.
    std::string size = "?";
    if (v.contains("original_bytes") && v["original_bytes"].is_number_integer())
      size = std::to_string(v["original_bytes"].get<int64_t>());
    d.detail += (d.detail.empty() ? "" : "; ") + std::string("event trimmed from the dead-letter message (") + size +
                " bytes; the worker's dead_letters row keeps them)";
  } else {
    return std::string("neither event nor raw_base64");
  }
  if (v.contains("source") && v["source"].is_object()) {
    const auto& s = v["source"];
    if (s.contains("topic") && s["topic"].is_string()) d.src.topic = s["topic"].get<std::string>();
    if (s.contains("partition") && s["partition"].is_number_integer()) d.src.partition = s["partition"].get<int32_t>();
    if (s.contains("offset") && s["offset"].is_number_integer()) d.src.offset = s["offset"].get<int64_t>();
  }
  if (v.contains("attempts") && v["attempts"].is_number_integer()) d.attempts = v["attempts"].get<int>();
  if (v.contains("conflict") && v["conflict"].is_object()) d.conflict = v["conflict"];
  const auto at = str("dead_lettered_at");
  d.created_at = at ? parse_time(*at, std::chrono::system_clock::now()).value_or("") : "";
  d.kafka_key = m.key;
  for (const auto& h : m.headers)
    if (h.name.rfind("lockstep.", 0) != 0 || h.name.rfind("lockstep.replay.", 0) == 0) d.headers.push_back(h);
  d.src.timestamp_ms = to_int(header(m.headers, "lockstep.source.timestamp")).value_or(-1);
  d.consumer_group = header(m.headers, "lockstep.consumer.group").value_or("");
  if (d.src.topic.empty()) d.src.topic = header(m.headers, "lockstep.source.topic").value_or("");
  d.status = "open";
  return d;
}

std::optional<std::string> parse_time(const std::string& text, std::chrono::system_clock::time_point now) {
  using namespace std::chrono;
  if (text.empty()) return std::nullopt;
  // An age: <digits><unit>.
  {
    std::size_t i = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
    if (i > 0 && i + 1 == text.size() && i <= 9) {
      const long long n = std::stoll(text.substr(0, i));
      seconds unit{0};
      switch (text[i]) {
        case 's': unit = seconds(1); break;
        case 'm': unit = seconds(60); break;
        case 'h': unit = seconds(3600); break;
        case 'd': unit = seconds(86400); break;
        default: return std::nullopt;
      }
      return to_rfc3339(now - unit * n);
    }
  }
  // YYYY-MM-DD[(T|t| )HH:MM:SS[.frac](Z|z|±HH:MM)]
  if (!digits(text, 0, 4) || text.size() < 10 || text[4] != '-' || !digits(text, 5, 2) || text[7] != '-' ||
      !digits(text, 8, 2))
    return std::nullopt;
  std::tm tm{};
  tm.tm_year = num(text, 0, 4) - 1900;
  tm.tm_mon = num(text, 5, 2) - 1;
  tm.tm_mday = num(text, 8, 2);
  if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31) return std::nullopt;
  long long frac_ms = 0;
  long offset_s = 0;
  if (text.size() > 10) {
    const char sep = text[10];
    if (sep != 'T' && sep != 't' && sep != ' ') return std::nullopt;
    if (!digits(text, 11, 2) || text.size() < 19 || text[13] != ':' || !digits(text, 14, 2) || text[16] != ':' ||
        !digits(text, 17, 2))
      return std::nullopt;
    tm.tm_hour = num(text, 11, 2);
    tm.tm_min = num(text, 14, 2);
    tm.tm_sec = num(text, 17, 2);
    if (tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60) return std::nullopt;
    std::size_t p = 19;
    if (p < text.size() && text[p] == '.') {
      std::size_t q = p + 1;
      while (q < text.size() && std::isdigit(static_cast<unsigned char>(text[q]))) ++q;
      if (q == p + 1) return std::nullopt;
      std::string f = text.substr(p + 1, q - p - 1);
      f = (f + "000").substr(0, 3);
      frac_ms = std::stoll(f);
      p = q;
    }
    if (p >= text.size()) return std::nullopt;  // RFC 3339 requires the offset
    if ((text[p] == 'Z' || text[p] == 'z') && p + 1 == text.size()) {
      offset_s = 0;
    } else if ((text[p] == '+' || text[p] == '-') && p + 6 == text.size() && digits(text, p + 1, 2) &&
               text[p + 3] == ':' && digits(text, p + 4, 2)) {
      const int oh = num(text, p + 1, 2), om = num(text, p + 4, 2);
      if (oh > 23 || om > 59) return std::nullopt;
      offset_s = (oh * 3600 + om * 60) * (text[p] == '-' ? -1 : 1);
    } else {
      return std::nullopt;
    }
  }
  std::tm check = tm;
  const std::time_t t = timegm(&tm);
  if (t == static_cast<std::time_t>(-1) || tm.tm_mday != check.tm_mday || tm.tm_mon != check.tm_mon)
    return std::nullopt;  // e.g. February 30th
  const auto tp = system_clock::from_time_t(t) - seconds(offset_s) + milliseconds(frac_ms);
  return to_rfc3339(tp);
}

}  // namespace lockstep::dlq
