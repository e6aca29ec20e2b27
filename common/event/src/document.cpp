// The whole-document steps of event parsing (parse.hpp): what is checked of the message
// before any field is read.
#include <cmath>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lockstep/event.hpp"
#include "parse.hpp"

namespace lockstep::parse {

namespace {

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

enum class ValueProblem { none, nul, non_finite };

// Walks a value iteratively looking for NUL characters in strings or keys and for
// non-finite numbers.
ValueProblem scan_value(const Json& root) {
  std::vector<const Json*> stack{&root};
  while (!stack.empty()) {
    const Json* j = stack.back();
    stack.pop_back();
    switch (j->type()) {
      case Json::value_t::string:
        if (has_nul(j->get_ref<const std::string&>())) return ValueProblem::nul;
        break;
      case Json::value_t::number_float:
        if (!std::isfinite(j->get<double>())) return ValueProblem::non_finite;
        break;
      case Json::value_t::object:
        for (auto it = j->begin(); it != j->end(); ++it) {
          if (has_nul(it.key())) return ValueProblem::nul;
          stack.push_back(&it.value());
        }
        break;
      case Json::value_t::array:
        for (const auto& v : *j) stack.push_back(&v);
        break;
      default: break;
    }
  }
  return ValueProblem::none;
}

// An object key as nlohmann reads it: a repeat in its object is recorded.
void track_key(DuplicateTracker& dup, const Json& parsed) {
  if (dup.objects.empty() || !parsed.is_string()) return;
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
}

// The parser callback's part: keeps `dup` in step with the containers being parsed.
void track(DuplicateTracker& dup, Json::parse_event_t ev, const Json& parsed) {
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
    case Json::parse_event_t::key: track_key(dup, parsed); break;
    default: break;
  }
}

bool valid_event_id(const Json& j) {
  if (!j.is_string()) return false;
  const auto& s = j.get_ref<const std::string&>();
  const std::size_t n = utf8_length(s);
  return n >= 1 && n <= 128 && !has_nul(s);
}

}  // namespace

Problem raw_problem(std::string_view value, const ParseLimits& limits) {
  if (value.size() > limits.max_event_bytes) {
    return "event is " + std::to_string(value.size()) + " bytes, larger than limits.max_event_bytes " +
           std::to_string(limits.max_event_bytes);
  }
  // nlohmann would skip a UTF-8 byte order mark; the contract's JSON text has none
  // (RFC 8259 §8.1), and PostgreSQL's json input refuses it.
  if (value.substr(0, 3) == "\xEF\xBB\xBF") {
    return "event starts with a byte order mark, which JSON text must not have";
  }
  if (exceeds_depth(value, limits.max_depth)) {
    return "event nests deeper than limits.max_depth " + std::to_string(limits.max_depth);
  }
  return std::nullopt;
}

namespace {

// The careful parse: records every key of every open object in `dup`, so a
// duplicate is named and a number out of range is reported with its field.
Problem parse_tracking_keys(std::string_view value, DuplicateTracker& dup, Json& doc) {
  auto callback = [&dup](int /*depth*/, Json::parse_event_t ev, Json& parsed) -> bool {
    track(dup, ev, parsed);
    return true;
  };
  try {
    doc = Json::parse(value.begin(), value.end(), callback, /*allow_exceptions=*/true,
                      /*ignore_comments=*/false);
  } catch (const Json::parse_error& e) {
    const std::string what = e.what();
    if (what.find("UTF-8") != std::string::npos || what.find("surrogate") != std::string::npos) {
      return "event is not valid UTF-8 JSON (bad UTF-8 near byte " + std::to_string(e.byte) + ")";
    }
    return "event is not valid JSON (syntax error near byte " + std::to_string(e.byte) + ")";
  } catch (const Json::out_of_range&) {
    // A number that overflows a double (e.g. 1e400).
    if (!dup.containers.empty() && dup.containers.front() && !dup.top_level_key.empty()) {
      return field(echo(dup.top_level_key)) + " contains a number out of range";
    }
    return "event contains a number out of range";
  }
  if (!doc.is_object()) return std::string("event must be a JSON object, got ") + type_name(doc);
  return std::nullopt;
}

// Object keys in a JSON text: strings followed by ':' outside strings (the
// text may be invalid; then the count does not matter, the parse fails).
std::size_t count_keys(std::string_view s) {
  std::size_t keys = 0;
  bool in_string = false, escaped = false, after_string = false;
  for (const char c : s) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
        after_string = true;
      }
      continue;
    }
    switch (c) {
      case '"': in_string = true; break;
      case ':':
        if (after_string) ++keys;
        after_string = false;
        break;
      case ' ': case '\t': case '\n': case '\r': break;
      default: after_string = false; break;
    }
  }
  return keys;
}

// Members of every object in a parsed document.
std::size_t count_members(const Json& root) {
  std::size_t members = 0;
  std::vector<const Json*> stack{&root};
  while (!stack.empty()) {
    const Json* j = stack.back();
    stack.pop_back();
    if (j->is_object()) {
      members += j->size();
      for (const auto& v : *j)
        if (v.is_structured()) stack.push_back(&v);
    } else if (j->is_array()) {
      for (const auto& v : *j)
        if (v.is_structured()) stack.push_back(&v);
    }
  }
  return members;
}

// The quick parse of the common case, with nlohmann's plain parser: nlohmann
// keeps one of equal keys, so a document with fewer object members than keys in
// its text has a duplicate. False when the document needs the careful parse: a
// duplicate, a parse error, a number out of range.
bool parse_counting_keys(std::string_view value, Json& doc) {
  try {
    doc = Json::parse(value.begin(), value.end(), nullptr, /*allow_exceptions=*/true, /*ignore_comments=*/false);
  } catch (const Json::exception&) {
    return false;
  }
  return count_members(doc) == count_keys(value);
}

}  // namespace

Problem parse_document(std::string_view value, DuplicateTracker& dup, Json& doc) {
  if (parse_counting_keys(value, doc)) {
    if (!doc.is_object()) return std::string("event must be a JSON object, got ") + type_name(doc);
    return std::nullopt;
  }
  // Something to report: the careful parse finds and words it.
  doc = Json();
  return parse_tracking_keys(value, dup, doc);
}

std::optional<std::string> readable_event_id(const Json& doc, const DuplicateTracker& dup) {
  if (auto it = doc.find("event_id");
      it != doc.end() && valid_event_id(*it) && dup.duplicate_top != "event_id") {
    return it->get<std::string>();
  }
  return std::nullopt;
}

Problem document_problem(const Json& doc, const DuplicateTracker& dup) {
  if (dup.duplicate_top) return "duplicate field " + in_quotes(*dup.duplicate_top);
  if (dup.duplicate_inside) return field(echo(*dup.duplicate_inside)) + " contains a duplicate object key";
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    if (has_nul(it.key())) return "a field name contains a NUL character (\\u0000)";
    switch (scan_value(it.value())) {
      case ValueProblem::nul: return field(echo(it.key())) + " must not contain NUL characters (\\u0000)";
      case ValueProblem::non_finite: return field(echo(it.key())) + " contains a number out of range";
      case ValueProblem::none: break;
    }
  }
  return std::nullopt;
}

}  // namespace lockstep::parse
