// Event parsing and validation (contract §2).
//
// Strictness beyond the field table, chosen so that nothing accepted here can later
// fail in PostgreSQL or be read differently by another JSON parser:
//   * nesting depth is checked by a byte pre-scan before the JSON parser runs;
//   * duplicate object keys (anywhere) are malformed;
//   * NUL characters (\u0000) anywhere in the document are malformed (text and
//     jsonb cannot store them);
//   * numbers that overflow a double (e.g. 1e400) are malformed;
//   * occurred_at with year 0000 is malformed (PostgreSQL rejects year 0);
//   * a leading UTF-8 byte order mark is malformed.
#include "lockstep/event.hpp"

#include <cmath>
#include <cstdint>
#include <exception>
#include <limits>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace lockstep {

namespace {

constexpr std::size_t kMaxEchoCodePoints = 64;

// Length of the well-formed UTF-8 sequence starting at s[i], or 0 when ill-formed.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) return 1;
  std::size_t len = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    if (b0 == 0xE0) lo = 0xA0;  // no overlongs
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    if (b0 == 0xF0) lo = 0x90;  // no overlongs
    if (b0 == 0xF4) hi = 0x8F;  // <= U+10FFFF
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  const auto b1 = static_cast<unsigned char>(s[i + 1]);
  if (b1 < lo || b1 > hi) return 0;
  for (std::size_t k = 2; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if (b < 0x80 || b > 0xBF) return 0;
  }
  return len;
}

// A short, printable, valid UTF-8 rendering of an untrusted value for details:
// control characters and ill-formed bytes become \xNN, and at most 64 code points
// are kept.
std::string echo(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  std::size_t count = 0;
  std::size_t i = 0;
  while (i < s.size()) {
    if (count == kMaxEchoCodePoints) {
      out += "...";
      break;
    }
    const std::size_t len = utf8_sequence_length(s, i);
    const auto b = static_cast<unsigned char>(s[i]);
    if (len == 0 || (len == 1 && (b < 0x20 || b == 0x7F))) {
      out += "\\x";
      out += kHex[b >> 4];
      out += kHex[b & 0xF];
      i += 1;
    } else {
      out.append(s.substr(i, len));
      i += len;
    }
    ++count;
  }
  return out;
}

// Both build by appending: `"'" + std::string(...)` (operator+ of a literal and a
// temporary, which inserts at the front) trips GCC 12's false -Wrestrict at -O3
// (GCC bug 105329), and the Release build runs with -Werror.
std::string in_quotes(std::string_view s) {
  std::string out = "'";
  out += echo(s);
  out += '\'';
  return out;
}

std::string field(std::string_view name) {
  std::string out = "field '";
  out += name;
  out += '\'';
  return out;
}

const char* type_name(const Json& j) {
  switch (j.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::object: return "object";
    case Json::value_t::array: return "array";
    case Json::value_t::string: return "string";
    case Json::value_t::boolean: return "boolean";
    case Json::value_t::binary: return "binary";
    case Json::value_t::discarded: return "discarded";
    case Json::value_t::number_float: return "float";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned: return "integer";
  }
  return "unknown";
}

// Byte pre-scan of the nesting depth of arrays/objects outside strings (the top
// level container is depth 1).
// True as soon as the nesting exceeds `limit`.
bool exceeds_depth(std::string_view s, int limit) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (const char c : s) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"': in_string = true; break;
      case '[':
      case '{':
        if (++depth > limit) return true;
        break;
      case ']':
      case '}':
        if (depth > 0) --depth;
        break;
      default: break;
    }
  }
  return false;
}

bool has_nul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

enum class Problem { none, nul, non_finite };

// Walks a value iteratively looking for NUL characters in strings or keys and for
// non-finite numbers.
Problem scan_value(const Json& root) {
  std::vector<const Json*> stack{&root};
  while (!stack.empty()) {
    const Json* j = stack.back();
    stack.pop_back();
    switch (j->type()) {
      case Json::value_t::string:
        if (has_nul(j->get_ref<const std::string&>())) return Problem::nul;
        break;
      case Json::value_t::number_float:
        if (!std::isfinite(j->get<double>())) return Problem::non_finite;
        break;
      case Json::value_t::object:
        for (auto it = j->begin(); it != j->end(); ++it) {
          if (has_nul(it.key())) return Problem::nul;
          stack.push_back(&it.value());
        }
        break;
      case Json::value_t::array:
        for (const auto& v : *j) stack.push_back(&v);
        break;
      default: break;
    }
  }
  return Problem::none;
}

// Records duplicate keys while nlohmann builds the document.
struct DuplicateTracker {
  std::vector<bool> containers;  // open containers, true = object
  std::vector<std::set<std::string>> objects;  // keys seen in each open object
  std::string top_level_key;     // the top-level field currently being parsed
  std::optional<std::string> duplicate_top;     // a duplicated top-level field
  std::optional<std::string> duplicate_inside;  // top-level field holding a nested duplicate
};

bool valid_event_id(const Json& j) {
  if (!j.is_string()) return false;
  const auto& s = j.get_ref<const std::string&>();
  const std::size_t n = utf8_length(s);
  return n >= 1 && n <= 128 && !has_nul(s);
}

Malformed malformed(std::string detail, std::optional<std::string> event_id = std::nullopt) {
  return Malformed{std::move(detail), std::move(event_id)};
}

int digits(std::string_view s, std::size_t pos, std::size_t n) {
  int v = 0;
  for (std::size_t k = 0; k < n; ++k) {
    const char c = s[pos + k];
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v;
}

int days_in_month(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month == 2) {
    const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return leap ? 29 : 28;
  }
  return kDays[month - 1];
}

ParseResult parse_impl(std::string_view value, const std::optional<std::string>& key,
                       const ParseLimits& limits) {
  if (value.size() > limits.max_event_bytes) {
    return malformed("event is " + std::to_string(value.size()) +
                     " bytes, larger than limits.max_event_bytes " +
                     std::to_string(limits.max_event_bytes));
  }
  // nlohmann would skip a UTF-8 byte order mark; the contract's JSON text has none
  // (RFC 8259 §8.1), and PostgreSQL's json input refuses it.
  if (value.substr(0, 3) == "\xEF\xBB\xBF") {
    return malformed("event starts with a byte order mark, which JSON text must not have");
  }
  if (exceeds_depth(value, limits.max_depth)) {
    return malformed("event nests deeper than limits.max_depth " +
                     std::to_string(limits.max_depth));
  }

  DuplicateTracker dup;
  auto callback = [&dup](int /*depth*/, Json::parse_event_t ev, Json& parsed) -> bool {
    switch (ev) {
      case Json::parse_event_t::object_start:
        dup.containers.push_back(true);
        dup.objects.emplace_back();
        break;
      case Json::parse_event_t::object_end:
        if (!dup.containers.empty()) dup.containers.pop_back();
        if (!dup.objects.empty()) dup.objects.pop_back();
        break;
      case Json::parse_event_t::array_start: dup.containers.push_back(false); break;
      case Json::parse_event_t::array_end:
        if (!dup.containers.empty()) dup.containers.pop_back();
        break;
      case Json::parse_event_t::key: {
        if (dup.objects.empty() || !parsed.is_string()) break;
        const auto& k = parsed.get_ref<const std::string&>();
        const bool top = dup.containers.size() == 1 && dup.containers.front();
        if (top) dup.top_level_key = k;
        if (!dup.objects.back().insert(k).second) {
          if (top) {
            if (!dup.duplicate_top) dup.duplicate_top = k;
          } else if (!dup.duplicate_inside) {
            dup.duplicate_inside = dup.top_level_key;
          }
        }
        break;
      }
      default: break;
    }
    return true;
  };

  Json doc;
  try {
    doc = Json::parse(value.begin(), value.end(), callback, /*allow_exceptions=*/true,
                      /*ignore_comments=*/false);
  } catch (const Json::parse_error& e) {
    const std::string what = e.what();
    if (what.find("UTF-8") != std::string::npos || what.find("surrogate") != std::string::npos) {
      return malformed("event is not valid UTF-8 JSON (bad UTF-8 near byte " +
                       std::to_string(e.byte) + ")");
    }
    return malformed("event is not valid JSON (syntax error near byte " + std::to_string(e.byte) +
                     ")");
  } catch (const Json::out_of_range&) {
    // A number that overflows a double (e.g. 1e400).
    if (!dup.containers.empty() && dup.containers.front() && !dup.top_level_key.empty()) {
      return malformed(field(echo(dup.top_level_key)) + " contains a number out of range");
    }
    return malformed("event contains a number out of range");
  }

  if (!doc.is_object()) {
    return malformed(std::string("event must be a JSON object, got ") + type_name(doc));
  }

  // The idempotency key, when readable and unambiguous.
  std::optional<std::string> event_id;
  if (auto it = doc.find("event_id");
      it != doc.end() && valid_event_id(*it) && dup.duplicate_top != "event_id") {
    event_id = it->get<std::string>();
  }
  auto fail = [&event_id](std::string detail) -> ParseResult {
    return malformed(std::move(detail), event_id);
  };

  if (dup.duplicate_top) return fail("duplicate field " + in_quotes(*dup.duplicate_top));
  if (dup.duplicate_inside) {
    return fail(field(echo(*dup.duplicate_inside)) + " contains a duplicate object key");
  }

  // NUL characters and non-finite numbers anywhere in the document.
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    if (has_nul(it.key())) return fail("a field name contains a NUL character (\\u0000)");
    switch (scan_value(it.value())) {
      case Problem::nul:
        return fail(field(echo(it.key())) + " must not contain NUL characters (\\u0000)");
      case Problem::non_finite:
        return fail(field(echo(it.key())) + " contains a number out of range");
      case Problem::none: break;
    }
  }

  Event ev;

  // Returns the member, or an error when missing (if required), null or not a string.
  auto get_string = [&doc, &fail](const char* name, bool required, std::optional<std::string>& out)
      -> std::optional<ParseResult> {
    auto it = doc.find(name);
    if (it == doc.end()) {
      if (required) return fail(std::string("missing required field '") + name + "'");
      return std::nullopt;
    }
    if (it->is_null()) return fail(field(name) + " must not be null");
    if (!it->is_string()) {
      return fail(field(name) + " must be a string, got " + type_name(*it));
    }
    out = it->get<std::string>();
    return std::nullopt;
  };

  {
    std::optional<std::string> s;
    if (auto err = get_string("event_id", true, s)) return *err;
    const std::size_t n = utf8_length(*s);
    if (n < 1 || n > 128) {
      return fail(field("event_id") + " must be 1..128 characters, got " + std::to_string(n));
    }
    ev.event_id = std::move(*s);
  }
  {
    std::optional<std::string> s;
    if (auto err = get_string("aggregate_type", true, s)) return *err;
    if (!is_valid_aggregate_type(*s)) {
      return fail(field("aggregate_type") + " must match [a-z][a-z0-9_]{0,63}, got " + in_quotes(*s));
    }
    ev.aggregate_type = std::move(*s);
  }
  {
    std::optional<std::string> s;
    if (auto err = get_string("aggregate_id", true, s)) return *err;
    const std::size_t n = utf8_length(*s);
    if (n < 1 || n > 256) {
      return fail(field("aggregate_id") + " must be 1..256 characters, got " + std::to_string(n));
    }
    ev.aggregate_id = std::move(*s);
  }
  {
    std::optional<std::string> s;
    if (auto err = get_string("transition", true, s)) return *err;
    ev.transition = std::move(*s);
  }
  if (auto it = doc.find("expected_version"); it != doc.end()) {
    const std::string rule = field("expected_version") + " must be an integer >= 0";
    if (it->is_null()) return fail(field("expected_version") + " must not be null");
    if (it->is_number_unsigned()) {
      const auto v = it->get<std::uint64_t>();
      if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        return fail(rule + " that fits in 64 bits");
      }
      ev.expected_version = static_cast<std::int64_t>(v);
    } else if (it->is_number_integer()) {
      const auto v = it->get<std::int64_t>();
      if (v < 0) return fail(rule + ", got " + std::to_string(v));
      ev.expected_version = v;
    } else {
      return fail(rule + ", got " + type_name(*it));
    }
  }
  if (auto err = get_string("expected_state", false, ev.expected_state)) return *err;
  if (auto it = doc.find("payload"); it != doc.end()) {
    if (it->is_null()) return fail(field("payload") + " must not be null");
    if (!it->is_object()) return fail(field("payload") + " must be an object, got " + type_name(*it));
    ev.payload = std::move(*it);
  }
  if (auto err = get_string("actor", false, ev.actor)) return *err;
  if (ev.actor) {
    const std::size_t n = utf8_length(*ev.actor);
    if (n > 256) {
      return fail(field("actor") + " must be at most 256 characters, got " + std::to_string(n));
    }
  }
  if (auto err = get_string("occurred_at", false, ev.occurred_at)) return *err;
  if (ev.occurred_at) {
    if (!is_rfc3339(*ev.occurred_at)) {
      return fail(field("occurred_at") + " must be an RFC 3339 date-time, got " +
                  in_quotes(*ev.occurred_at));
    }
    if (ev.occurred_at->compare(0, 4, "0000") == 0) {
      return fail(field("occurred_at") + " must not be in year 0000");
    }
  }

  const std::string expected_key = ev.key();
  if (!key) {
    return fail("key mismatch: message has no key, expected " + in_quotes(expected_key) +
                " (aggregate_type:aggregate_id)");
  }
  if (*key != expected_key) {
    return fail("key mismatch: message key " + in_quotes(*key) + " is not " + in_quotes(expected_key) +
                " (aggregate_type:aggregate_id)");
  }
  return ev;
}

}  // namespace

ParseResult parse_event(std::string_view value, const std::optional<std::string>& key,
                        const ParseLimits& limits) {
  try {
    return parse_impl(value, key, limits);
  } catch (...) {
    return Malformed{std::string("event could not be parsed: internal error"), std::nullopt};
  }
}

std::size_t utf8_length(std::string_view s) {
  std::size_t n = 0;
  for (const char c : s) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  }
  return n;
}

bool is_valid_aggregate_type(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  if (s[0] < 'a' || s[0] > 'z') return false;
  for (const char c : s.substr(1)) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

// RFC 3339 §5.6 date-time:
//   YYYY-MM-DD ("T"/"t") hh:mm:ss [.frac] ("Z"/"z" / ("+"/"-") hh:mm)
// with calendar-aware day ranges; second 60 is accepted only where a leap second
// can occur (23:59:60 in UTC).
bool is_rfc3339(std::string_view s) {
  // Minimum: "YYYY-MM-DDThh:mm:ssZ" = 20 characters.
  if (s.size() < 20) return false;
  const int year = digits(s, 0, 4);
  if (year < 0 || s[4] != '-') return false;
  const int month = digits(s, 5, 2);
  if (month < 1 || month > 12 || s[7] != '-') return false;
  const int day = digits(s, 8, 2);
  if (day < 1 || day > days_in_month(year, month)) return false;
  if (s[10] != 'T' && s[10] != 't') return false;
  const int hour = digits(s, 11, 2);
  if (hour < 0 || hour > 23 || s[13] != ':') return false;
  const int minute = digits(s, 14, 2);
  if (minute < 0 || minute > 59 || s[16] != ':') return false;
  const int second = digits(s, 17, 2);
  if (second < 0 || second > 60) return false;

  std::size_t pos = 19;
  if (s[pos] == '.') {
    ++pos;
    const std::size_t start = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos;
    if (pos == start) return false;
  }
  if (pos >= s.size()) return false;

  int offset_minutes = 0;
  const char c = s[pos];
  if (c == 'Z' || c == 'z') {
    if (pos + 1 != s.size()) return false;
  } else if (c == '+' || c == '-') {
    if (pos + 6 != s.size()) return false;
    const int oh = digits(s, pos + 1, 2);
    if (oh < 0 || oh > 23 || s[pos + 3] != ':') return false;
    const int om = digits(s, pos + 4, 2);
    if (om < 0 || om > 59) return false;
    offset_minutes = (c == '+' ? 1 : -1) * (oh * 60 + om);
  } else {
    return false;
  }

  if (second == 60) {
    const int utc_minute = ((hour * 60 + minute - offset_minutes) % 1440 + 1440) % 1440;
    if (utc_minute != 23 * 60 + 59) return false;
  }
  return true;
}

}  // namespace lockstep
