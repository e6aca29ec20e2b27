// Event parsing and validation (docs/event.md).
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
//
// The steps are in parse.hpp: the document as a whole (document.cpp), then the fields
// one by one (here), then the message key.
#include "lockstep/event.hpp"

#include <cstdint>
#include <exception>
#include <limits>
#include <string>
#include <utility>

#include "parse.hpp"

namespace lockstep {

namespace {

using parse::field;
using parse::in_quotes;
using parse::Problem;
using parse::type_name;

// The member `name` into `out`; a problem when it is missing (and required), null or not a string.
Problem get_string(const Json& doc, const char* name, bool required, std::optional<std::string>& out) {
  auto it = doc.find(name);
  if (it == doc.end()) {
    if (required) return std::string("missing required field '") + name + "'";
    return std::nullopt;
  }
  if (it->is_null()) return field(name) + " must not be null";
  if (!it->is_string()) return field(name) + " must be a string, got " + type_name(*it);
  out = it->get<std::string>();
  return std::nullopt;
}

// A required string of 1..`max` characters.
Problem get_sized_string(const Json& doc, const char* name, std::size_t max, std::string& out) {
  std::optional<std::string> s;
  if (auto problem = get_string(doc, name, true, s)) return problem;
  const std::size_t n = utf8_length(*s);
  if (n < 1 || n > max) {
    return field(name) + " must be 1.." + std::to_string(max) + " characters, got " + std::to_string(n);
  }
  out = std::move(*s);
  return std::nullopt;
}

// Each step reads one field of the contract into `ev` (the payload is moved out of `doc`).
Problem read_event_id(Json& doc, Event& ev) { return get_sized_string(doc, "event_id", 128, ev.event_id); }

Problem read_aggregate_type(Json& doc, Event& ev) {
  std::optional<std::string> s;
  if (auto problem = get_string(doc, "aggregate_type", true, s)) return problem;
  if (!is_valid_aggregate_type(*s)) {
    return field("aggregate_type") + " must match [a-z][a-z0-9_]{0,63}, got " + in_quotes(*s);
  }
  ev.aggregate_type = std::move(*s);
  return std::nullopt;
}

Problem read_aggregate_id(Json& doc, Event& ev) {
  return get_sized_string(doc, "aggregate_id", 256, ev.aggregate_id);
}

Problem read_transition(Json& doc, Event& ev) {
  std::optional<std::string> s;
  if (auto problem = get_string(doc, "transition", true, s)) return problem;
  ev.transition = std::move(*s);
  return std::nullopt;
}

Problem read_expected_version(Json& doc, Event& ev) {
  auto it = doc.find("expected_version");
  if (it == doc.end()) return std::nullopt;
  const std::string rule = field("expected_version") + " must be an integer >= 0";
  if (it->is_null()) return field("expected_version") + " must not be null";
  if (it->is_number_unsigned()) {
    const auto v = it->get<std::uint64_t>();
    if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return rule + " that fits in 64 bits";
    }
    ev.expected_version = static_cast<std::int64_t>(v);
  } else if (it->is_number_integer()) {
    const auto v = it->get<std::int64_t>();
    if (v < 0) return rule + ", got " + std::to_string(v);
    ev.expected_version = v;
  } else {
    return rule + ", got " + type_name(*it);
  }
  return std::nullopt;
}

Problem read_expected_state(Json& doc, Event& ev) {
  return get_string(doc, "expected_state", false, ev.expected_state);
}

Problem read_payload(Json& doc, Event& ev) {
  auto it = doc.find("payload");
  if (it == doc.end()) return std::nullopt;
  if (it->is_null()) return field("payload") + " must not be null";
  if (!it->is_object()) return field("payload") + " must be an object, got " + type_name(*it);
  ev.payload = std::move(*it);
  return std::nullopt;
}

Problem read_actor(Json& doc, Event& ev) {
  if (auto problem = get_string(doc, "actor", false, ev.actor)) return problem;
  if (!ev.actor) return std::nullopt;
  const std::size_t n = utf8_length(*ev.actor);
  if (n > 256) return field("actor") + " must be at most 256 characters, got " + std::to_string(n);
  return std::nullopt;
}

Problem read_occurred_at(Json& doc, Event& ev) {
  if (auto problem = get_string(doc, "occurred_at", false, ev.occurred_at)) return problem;
  if (!ev.occurred_at) return std::nullopt;
  if (!is_rfc3339(*ev.occurred_at)) {
    return field("occurred_at") + " must be an RFC 3339 date-time, got " + in_quotes(*ev.occurred_at);
  }
  if (ev.occurred_at->compare(0, 4, "0000") == 0) return field("occurred_at") + " must not be in year 0000";
  return std::nullopt;
}

// The fields in the order their problems are reported.
using FieldStep = Problem (*)(Json& doc, Event& ev);
constexpr FieldStep kFieldSteps[] = {read_event_id,   read_aggregate_type,   read_aggregate_id,
                                     read_transition, read_expected_version, read_expected_state,
                                     read_payload,    read_actor,            read_occurred_at};

Problem read_fields(Json& doc, Event& ev) {
  for (const FieldStep step : kFieldSteps) {
    if (auto problem = step(doc, ev)) return problem;
  }
  return std::nullopt;
}

// The message key must be aggregate_type:aggregate_id.
Problem key_problem(const Event& ev, const std::optional<std::string>& key) {
  const std::string expected_key = ev.key();
  if (!key) {
    return "key mismatch: message has no key, expected " + in_quotes(expected_key) +
           " (aggregate_type:aggregate_id)";
  }
  if (*key != expected_key) {
    return "key mismatch: message key " + in_quotes(*key) + " is not " + in_quotes(expected_key) +
           " (aggregate_type:aggregate_id)";
  }
  return std::nullopt;
}

Malformed malformed(std::string detail, std::optional<std::string> event_id = std::nullopt) {
  return Malformed{std::move(detail), std::move(event_id)};
}

ParseResult parse_impl(std::string_view value, const std::optional<std::string>& key,
                       const ParseLimits& limits) {
  if (auto problem = parse::raw_problem(value, limits)) return malformed(std::move(*problem));
  parse::DuplicateTracker dup;
  Json doc;
  if (auto problem = parse::parse_document(value, dup, doc)) return malformed(std::move(*problem));
  // From here on a problem carries the event_id, when one can be read.
  const std::optional<std::string> event_id = parse::readable_event_id(doc, dup);
  Event ev;
  Problem problem = parse::document_problem(doc, dup);
  if (!problem) problem = read_fields(doc, ev);
  if (!problem) problem = key_problem(ev, key);
  if (problem) return malformed(std::move(*problem), event_id);
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

}  // namespace lockstep
