// Command lines of the developer tools (lockstep-bench, lockstep-chaos):
// `--flag value` pairs, -h/--help, and the usage error that exits 2.
#pragma once

#include <functional>
#include <optional>
#include <string>

namespace lockstep::kit {

// The value of an integer option when it is one in lo..hi.
std::optional<long long> parse_integer(const std::string& v, long long lo, long long hi);

// Prints "<tool>: <message>" and the usage text to stderr; exits 2.
[[noreturn]] void fail_usage(const std::string& tool, const std::string& usage_text, const std::string& message);

// A tool's own usage error (a function that calls fail_usage with its name and text).
using UsageError = void (*)(const std::string& message);

// The value of integer option `flag` when `v` is an integer in lo..hi; else
// `fail("FLAG: expected an integer in LO..HI (got \"V\")")`.
long long integer_option(const std::string& flag, const std::string& v, long long lo, long long hi, UsageError fail);

// Calls on(flag, value) for each `--flag value` pair of argv[1..]; -h or
// --help prints `usage_text` to stdout and exits 0; a flag without a value
// is fail("FLAG: missing value").
void for_each_option(int argc, char** argv, const std::string& usage_text, UsageError fail,
                     const std::function<void(const std::string& flag, const std::string& value)>& on);

}  // namespace lockstep::kit
