// Command-line values of the developer tools.
#pragma once

#include <optional>
#include <string>

namespace lockstep::kit {

// The value of an integer option when it is one in lo..hi.
std::optional<long long> parse_integer(const std::string& v, long long lo, long long hi);

}  // namespace lockstep::kit
