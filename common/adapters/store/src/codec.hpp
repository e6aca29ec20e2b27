// What the PostgreSQL and the SQLite store share about stored values: how a
// dead letter's headers are kept, and how a database's error text is reported.
#pragma once
#include <string>
#include <vector>

#include "lockstep/event.hpp"
#include "lockstep/header.hpp"

namespace lockstep {

// Headers as dead_letters.headers holds them: a JSON array of
// {"name": ..., "value_b64": base64 of the value, or null for no value}.
Json headers_to_json(const std::vector<Header>& hs);
// The inverse: no headers when `text` is not a JSON array, an empty value where
// value_b64 is not valid base64.
std::vector<Header> headers_from_json(const std::string& text);

// The first line of an error message (drivers add detail lines).
std::string first_line(const std::string& s);

}  // namespace lockstep
