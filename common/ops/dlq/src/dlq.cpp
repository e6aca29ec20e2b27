#include "lockstep/dlq.hpp"

#include <cctype>
#include <ctime>

#include "lockstep/wire.hpp"

namespace lockstep::dlq {

namespace {

constexpr std::size_t kMaxEventIdChars = 128;  // docs/event.md

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
    if (!wire::is_replay_header(h.name)) m.headers.push_back(h);  // a replay of a replay: the newest link
  m.headers.push_back(Header{wire::header::replay_of, d.event_id});
  m.headers.push_back(Header{wire::header::replay_dead_letter_id, std::to_string(d.id)});
  m.headers.push_back(Header{wire::header::replay_by, by});
  return m;
}

std::variant<DeadLetterRecord, std::string> parse_dead_letter_message(const Message& m) {
  auto parsed = wire::parse_dead_letter(m);
  if (auto* error = std::get_if<std::string>(&parsed)) return std::move(*error);
  auto& msg = std::get<wire::DeadLetterMessage>(parsed);
  DeadLetterRecord d = std::move(msg.record);
  if (msg.trimmed) {
    // Imported without the bytes (they stayed in the worker's dead_letters row): the detail says why.
    const std::string size = msg.original_bytes ? std::to_string(*msg.original_bytes) : "?";
    d.detail += (d.detail.empty() ? "" : "; ") + std::string("event trimmed from the dead-letter message (") + size +
                " bytes; the worker's dead_letters row keeps them)";
  }
  if (!d.created_at.empty()) d.created_at = parse_time(d.created_at, std::chrono::system_clock::now()).value_or("");
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
