// Text of event parsing: details that echo untrusted values safely, and the public checks of
// event.hpp (UTF-8 length, aggregate_type, RFC 3339 date-time).
#include <cstddef>
#include <string>
#include <string_view>

#include "lockstep/event.hpp"
#include "parse.hpp"

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

}  // namespace

namespace parse {

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

bool has_nul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

}  // namespace parse

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
