// The quick path of event parsing (EventParser): simdjson reads the common,
// well-formed event without building nlohmann's whole document, and only the
// payload becomes a nlohmann value. It accepts an event only where parse_event
// would accept it with the same fields; anything else (an escape, an error of
// any kind, a duplicate key, a field the contract refuses, a wrong key) goes to
// parse_event, which finds and words the problem exactly as before.
// tests/event/event_quick_test.cpp and the fuzz target check that both agree.
#include <simdjson.h>

#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "lockstep/event.hpp"

namespace lockstep {

namespace {

namespace dom = simdjson::dom;

constexpr std::size_t kMaxQuickMembers = 16;  // objects with more members go the careful way

// Whether the object's keys are distinct (nlohmann would keep one of equal keys).
bool distinct_keys(dom::object o) {
  std::string_view keys[kMaxQuickMembers];
  std::size_t n = 0;
  for (const auto field : o) {
    if (n == kMaxQuickMembers) return false;
    for (std::size_t i = 0; i < n; ++i)
      if (keys[i] == field.key) return false;
    keys[n++] = field.key;
  }
  return true;
}

// `e` as nlohmann would have parsed it, or false when it cannot be said
// quickly (a duplicate key, a large object, nesting beyond `max_depth`).
// `depth`: of the container `e` is (the document itself is 1).
bool to_json(dom::element e, int depth, int max_depth, Json& out) {
  switch (e.type()) {
    case dom::element_type::OBJECT: {
      dom::object o;
      if (depth > max_depth || e.get_object().get(o) || !distinct_keys(o)) return false;
      out = Json::object();
      for (const auto field : o)
        if (!to_json(field.value, depth + 1, max_depth, out[std::string(field.key)])) return false;
      return true;
    }
    case dom::element_type::ARRAY: {
      dom::array a;
      if (depth > max_depth || e.get_array().get(a)) return false;
      out = Json::array();
      for (const auto item : a) {
        out.push_back(Json());
        if (!to_json(item, depth + 1, max_depth, out.back())) return false;
      }
      return true;
    }
    case dom::element_type::STRING: {
      std::string_view s;
      if (e.get_string().get(s)) return false;
      out = std::string(s);
      return true;
    }
    case dom::element_type::INT64: {
      int64_t v = 0;
      if (e.get_int64().get(v)) return false;
      // nlohmann keeps a non-negative integer as unsigned, a negative one as signed.
      if (v >= 0)
        out = static_cast<uint64_t>(v);
      else
        out = v;
      return true;
    }
    case dom::element_type::UINT64: {
      uint64_t v = 0;
      if (e.get_uint64().get(v)) return false;
      out = v;
      return true;
    }
    case dom::element_type::DOUBLE: {
      double v = 0;
      if (e.get_double().get(v)) return false;
      out = v;
      return true;
    }
    case dom::element_type::BOOL: {
      bool v = false;
      if (e.get_bool().get(v)) return false;
      out = v;
      return true;
    }
    case dom::element_type::NULL_VALUE: out = nullptr; return true;
  }
  return false;
}

// The member `name` into `out` when it is a string (`out` stays empty when the
// member is absent); false when it is there and not a string (null included).
bool optional_string(dom::object doc, const char* name, std::optional<std::string_view>& out) {
  dom::element e;
  if (doc.at_key(name).get(e)) return true;  // absent
  std::string_view s;
  if (e.get_string().get(s)) return false;
  out = s;
  return true;
}

bool sized(std::string_view s, std::size_t min, std::size_t max) {
  const std::size_t n = utf8_length(s);
  return n >= min && n <= max;
}

// The contract's fields as read_fields (event.cpp) reads them; false at the
// first one it would refuse.
bool read_fields(dom::object doc, const ParseLimits& limits, Event& ev) {
  std::optional<std::string_view> id, type, agg, transition, state, actor, at;
  if (!optional_string(doc, "event_id", id) || !id || !sized(*id, 1, 128)) return false;
  if (!optional_string(doc, "aggregate_type", type) || !type || !is_valid_aggregate_type(*type)) return false;
  if (!optional_string(doc, "aggregate_id", agg) || !agg || !sized(*agg, 1, 256)) return false;
  if (!optional_string(doc, "transition", transition) || !transition) return false;
  if (dom::element v; !doc.at_key("expected_version").get(v)) {
    // Unsigned beyond int64, fractional, negative, not a number: the careful path words it.
    int64_t version = 0;
    if (v.type() != dom::element_type::INT64 || v.get_int64().get(version) || version < 0) return false;
    ev.expected_version = version;
  }
  if (!optional_string(doc, "expected_state", state)) return false;
  if (dom::element p; !doc.at_key("payload").get(p)) {
    if (!p.is_object()) return false;
    Json payload;
    if (!to_json(p, 2, limits.max_depth, payload)) return false;
    ev.payload = std::move(payload);
  }
  if (!optional_string(doc, "actor", actor) || (actor && !sized(*actor, 0, 256))) return false;
  if (!optional_string(doc, "occurred_at", at)) return false;
  if (at && (!is_rfc3339(*at) || at->compare(0, 4, "0000") == 0)) return false;
  ev.event_id = *id;
  ev.aggregate_type = *type;
  ev.aggregate_id = *agg;
  ev.transition = *transition;
  if (state) ev.expected_state = std::string(*state);
  if (actor) ev.actor = std::string(*actor);
  if (at) ev.occurred_at = std::string(*at);
  return true;
}

// Whether `e` is what to_json would take, without building it: every object's
// keys distinct and small in number, nothing deeper than `max_depth`.
bool plain(dom::element e, int depth, int max_depth) {
  if (dom::object o; !e.get_object().get(o)) {
    if (depth > max_depth || !distinct_keys(o)) return false;
    for (const auto field : o)
      if (!plain(field.value, depth + 1, max_depth)) return false;
  } else if (dom::array a; !e.get_array().get(a)) {
    if (depth > max_depth) return false;
    for (const auto item : a)
      if (!plain(item, depth + 1, max_depth)) return false;
  }
  return true;
}

// Every member of every object outside the payload has a distinct key, and
// nothing nests deeper than `max_depth` (the payload is checked as it is read).
bool plain_document(dom::object doc, int max_depth) {
  if (!distinct_keys(doc)) return false;
  for (const auto field : doc)
    if (field.key != "payload" && !plain(field.value, 2, max_depth)) return false;
  return true;
}

// Whether `key` is "<type>:<id>", without building that string.
bool key_matches(std::string_view key, std::string_view type, std::string_view id) {
  return key.size() == type.size() + 1 + id.size() && key.substr(0, type.size()) == type &&
         key[type.size()] == ':' && key.substr(type.size() + 1) == id;
}

}  // namespace

struct EventParser::Impl {
  dom::parser parser;
  std::size_t quick = 0;

  std::optional<Event> parse_quick(std::string_view value, const std::optional<std::string>& key,
                                   const ParseLimits& limits) {
    if (value.empty() || value.size() > limits.max_event_bytes || limits.max_depth < 1) return std::nullopt;
    // An escape may hide a NUL or a lone surrogate, which the careful path words.
    // A byte order mark is malformed (the careful path says so); simdjson would skip it.
    if (std::memchr(value.data(), '\\', value.size()) || value.substr(0, 3) == "\xEF\xBB\xBF") return std::nullopt;
    dom::element root;
    if (parser.parse(value.data(), value.size()).get(root)) return std::nullopt;
    dom::object doc;
    if (root.get_object().get(doc)) return std::nullopt;
    if (!plain_document(doc, limits.max_depth)) return std::nullopt;
    Event ev;
    if (!read_fields(doc, limits, ev)) return std::nullopt;
    if (!key || !key_matches(*key, ev.aggregate_type, ev.aggregate_id)) return std::nullopt;
    return ev;
  }
};

EventParser::EventParser() : impl_(std::make_unique<Impl>()) {}
EventParser::~EventParser() = default;

ParseResult EventParser::parse(std::string_view value, const std::optional<std::string>& key,
                               const ParseLimits& limits) {
  try {
    if (auto ev = impl_->parse_quick(value, key, limits)) {
      ++impl_->quick;
      return std::move(*ev);
    }
  } catch (...) {
    // simdjson's or nlohmann's allocation failed: the careful path decides
  }
  return parse_event(value, key, limits);
}

std::size_t EventParser::quick_count() const { return impl_->quick; }

}  // namespace lockstep
