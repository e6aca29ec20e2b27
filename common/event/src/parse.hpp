// Private to lockstep_event: the steps parse_event (event.cpp) is made of.
//   text.cpp      renders untrusted values for details, and the public text checks;
//   document.cpp  the whole-document checks: size, byte order mark, depth, JSON syntax and
//                 UTF-8, number range, duplicate keys, NUL characters;
//   event.cpp     the contract's fields one by one, then the message key.
// A step returns the detail of the first problem it finds (std::nullopt: none); the order of
// the steps is the order in which problems are reported, and tests and the fuzz corpus rely on
// both the order and the wording.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "lockstep/event.hpp"

namespace lockstep::parse {

// The detail of a problem; std::nullopt when there is none.
using Problem = std::optional<std::string>;

// A short, printable, valid UTF-8 rendering of an untrusted value for details:
// control characters and ill-formed bytes become \xNN, and at most 64 code points
// are kept.
std::string echo(std::string_view s);
std::string in_quotes(std::string_view s);  // 'echo(s)'
std::string field(std::string_view name);   // field 'name'
const char* type_name(const Json& j);        // "object", "integer", …
bool has_nul(std::string_view s);

// Records duplicate keys while nlohmann builds the document.
struct DuplicateTracker {
  std::vector<bool> containers;  // open containers, true = object
  std::vector<std::set<std::string>> objects;  // keys seen in each open object
  std::string top_level_key;     // the top-level field currently being parsed
  std::optional<std::string> duplicate_top;     // a duplicated top-level field
  std::optional<std::string> duplicate_inside;  // top-level field holding a nested duplicate
};

// Before the JSON parser runs: the size, a byte order mark, the nesting depth.
Problem raw_problem(std::string_view value, const ParseLimits& limits);

// Parses `value` into `doc`, recording duplicate keys in `dup`: JSON syntax, UTF-8, numbers that
// overflow a double, and a document that is not an object.
Problem parse_document(std::string_view value, DuplicateTracker& dup, Json& doc);

// The idempotency key, when readable and unambiguous.
std::optional<std::string> readable_event_id(const Json& doc, const DuplicateTracker& dup);

// Duplicate keys, then NUL characters and non-finite numbers anywhere in the document.
Problem document_problem(const Json& doc, const DuplicateTracker& dup);

}  // namespace lockstep::parse
