// libFuzzer target for lockstep::parse_event (docs/event.md).
//
// Input layout: the first byte selects the Kafka key and the limits, the rest
// is the message value.
//   bits 0-1  key: 0 = none, 1 = derived from the value's aggregate_type and
//             aggregate_id (so valid events get through), 2 = arbitrary bytes
//             (next byte = length, then that many bytes of key), 3 = "" (empty)
//   bits 2-3  limits.max_depth: 64 (default), 2, 16, 1000
//   bit  6    limits.max_event_bytes: default (0) or 256 (1)
// The digits '0'..'3' therefore mean "key mode 0..3, default limits": the seed
// corpus starts every file with '1'.
//
// Beyond "no crash, no UB, no leak" this aborts when
//   * a parse is not deterministic (same variant, same fields/detail twice),
//     or EventParser (its quick path) and parse_event disagree;
//   * an Event breaks a rule the parser validates (field lengths, aggregate_type,
//     key == aggregate_type:aggregate_id, payload object, expected_version >= 0,
//     actor length, occurred_at RFC 3339 and not year 0000, no NUL, UTF-8);
//   * a Malformed has an empty or non-UTF-8 detail, an event_id outside 1..128
//     characters, or is the catch-all "internal error" (an unexpected exception
//     inside the parser, i.e. a bug).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#define LOCKSTEP_FUZZ_TARGET "event_fuzz"
#include "check.hpp"
#include "lockstep/event.hpp"

namespace {

using lockstep::Event;
using lockstep::Json;
using lockstep::Malformed;
using lockstep::ParseLimits;
using lockstep::ParseResult;


// Strict UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    std::size_t len = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (b0 < 0x80) {
      ++i;
      continue;
    } else if (b0 >= 0xC2 && b0 <= 0xDF) {
      len = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      len = 3;
      if (b0 == 0xE0) lo = 0xA0;
      if (b0 == 0xED) hi = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      len = 4;
      if (b0 == 0xF0) lo = 0x90;
      if (b0 == 0xF4) hi = 0x8F;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    const auto b1 = static_cast<unsigned char>(s[i + 1]);
    if (b1 < lo || b1 > hi) return false;
    for (std::size_t k = 2; k < len; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if (b < 0x80 || b > 0xBF) return false;
    }
    i += len;
  }
  return true;
}

bool clean_text(std::string_view s) { return valid_utf8(s) && s.find('\0') == std::string_view::npos; }

// All strings and keys inside a JSON value are NUL-free UTF-8, all numbers finite.
bool clean_json(const Json& j) {
  switch (j.type()) {
    case Json::value_t::string: return clean_text(j.get_ref<const std::string&>());
    case Json::value_t::number_float: return std::isfinite(j.get<double>());
    case Json::value_t::object:
      for (auto it = j.begin(); it != j.end(); ++it) {
        if (!clean_text(it.key()) || !clean_json(it.value())) return false;
      }
      return true;
    case Json::value_t::array:
      for (const auto& v : j) {
        if (!clean_json(v)) return false;
      }
      return true;
    default: return true;
  }
}

// The key a well-behaved producer would send for this value ("" parts when the
// fields are missing or not strings; nullopt when the value is not an object).
std::optional<std::string> derived_key(std::string_view value) {
  const Json j = Json::parse(value.begin(), value.end(), nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  auto str = [&j](const char* name) {
    const auto it = j.find(name);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  return str("aggregate_type") + ":" + str("aggregate_id");
}

void check_event(const Event& e, std::string_view value, const std::optional<std::string>& key,
                 const ParseLimits& limits) {
  CHECK(value.size() <= limits.max_event_bytes);
  CHECK(key.has_value());
  CHECK(*key == e.key(), *key);
  CHECK(*key == e.aggregate_type + ":" + e.aggregate_id);
  const std::size_t id_len = lockstep::utf8_length(e.event_id);
  CHECK(id_len >= 1 && id_len <= 128, e.event_id);
  CHECK(lockstep::is_valid_aggregate_type(e.aggregate_type), e.aggregate_type);
  const std::size_t agg_len = lockstep::utf8_length(e.aggregate_id);
  CHECK(agg_len >= 1 && agg_len <= 256, e.aggregate_id);
  CHECK(clean_text(e.event_id));
  CHECK(clean_text(e.aggregate_id));
  CHECK(clean_text(e.transition));
  if (e.expected_version) CHECK(*e.expected_version >= 0);
  if (e.expected_state) CHECK(clean_text(*e.expected_state));
  if (e.payload) {
    CHECK(e.payload->is_object());
    CHECK(clean_json(*e.payload));
  }
  if (e.actor) {
    CHECK(clean_text(*e.actor));
    CHECK(lockstep::utf8_length(*e.actor) <= 256, *e.actor);
  }
  if (e.occurred_at) {
    CHECK(lockstep::is_rfc3339(*e.occurred_at), *e.occurred_at);
    CHECK(e.occurred_at->compare(0, 4, "0000") != 0, *e.occurred_at);
  }
}

void check_malformed(const Malformed& m) {
  CHECK(!m.detail.empty());
  CHECK(clean_text(m.detail), m.detail);
  // parse_event's catch-all for an exception escaping the parser.
  CHECK(m.detail != "event could not be parsed: internal error", m.detail);
  if (m.event_id) {
    const std::size_t n = lockstep::utf8_length(*m.event_id);
    CHECK(n >= 1 && n <= 128, *m.event_id);
    CHECK(clean_text(*m.event_id));
  }
}

bool same(const ParseResult& a, const ParseResult& b) {
  if (a.index() != b.index()) return false;
  if (const auto* ma = std::get_if<Malformed>(&a)) {
    const auto& mb = std::get<Malformed>(b);
    return ma->detail == mb.detail && ma->event_id == mb.event_id;
  }
  const auto& ea = std::get<Event>(a);
  const auto& eb = std::get<Event>(b);
  return ea.event_id == eb.event_id && ea.aggregate_type == eb.aggregate_type &&
         ea.aggregate_id == eb.aggregate_id && ea.transition == eb.transition &&
         ea.expected_version == eb.expected_version && ea.expected_state == eb.expected_state &&
         ea.payload == eb.payload && ea.actor == eb.actor && ea.occurred_at == eb.occurred_at &&
         (!ea.payload || ea.payload->dump() == eb.payload->dump());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t mode = data[0];
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);

  ParseLimits limits;
  static constexpr int kDepths[] = {64, 2, 16, 1000};
  limits.max_depth = kDepths[(mode >> 2) & 3];
  if (mode & 0x40) limits.max_event_bytes = 256;

  std::optional<std::string> key;
  switch (mode & 3) {
    case 0: break;
    case 1: key = derived_key(rest); break;
    case 2: {
      if (rest.empty()) return 0;
      const std::size_t n = std::min<std::size_t>(static_cast<std::uint8_t>(rest[0]), rest.size() - 1);
      key = std::string(rest.substr(1, n));
      rest.remove_prefix(1 + n);
      break;
    }
    default: key = std::string(); break;
  }

  const ParseResult first = lockstep::parse_event(rest, key, limits);
  const ParseResult second = lockstep::parse_event(rest, key, limits);
  CHECK(same(first, second));
  // EventParser's quick path accepts only what parse_event accepts, with the same fields.
  lockstep::EventParser parser;
  CHECK(same(first, parser.parse(rest, key, limits)));

  if (const auto* e = std::get_if<Event>(&first)) {
    check_event(*e, rest, key, limits);
    // A valid event stays valid when only the key is recomputed from its fields.
    CHECK(std::holds_alternative<Event>(lockstep::parse_event(rest, e->key(), limits)));
    // ... and is never accepted without a key.
    CHECK(std::holds_alternative<Malformed>(lockstep::parse_event(rest, std::nullopt, limits)));
  } else {
    check_malformed(std::get<Malformed>(first));
  }
  return 0;
}
