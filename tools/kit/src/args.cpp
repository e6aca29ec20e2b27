#include "lockstep/kit/args.hpp"

#include <cstdlib>
#include <iostream>
#include <stdexcept>

namespace lockstep::kit {

std::optional<long long> parse_integer(const std::string& v, long long lo, long long hi) {
  try {
    std::size_t used = 0;
    const long long n = std::stoll(v, &used);
    if (used == v.size() && n >= lo && n <= hi) return n;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

void fail_usage(const std::string& tool, const std::string& usage_text, const std::string& message) {
  std::cerr << tool << ": " << message << "\n" << usage_text;
  std::exit(2);
}

long long integer_option(const std::string& flag, const std::string& v, long long lo, long long hi, UsageError fail) {
  if (const auto n = parse_integer(v, lo, hi)) return *n;
  std::string message = flag;
  message += ": expected an integer in ";
  message += std::to_string(lo);
  message += "..";
  message += std::to_string(hi);
  message += " (got \"";
  message += v;
  message += "\")";
  fail(message);
  throw std::invalid_argument(message);  // a UsageError does not return; this one did
}

void for_each_option(int argc, char** argv, const std::string& usage_text, UsageError fail,
                     const std::function<void(const std::string& flag, const std::string& value)>& on) {
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "-h" || flag == "--help") {
      std::cout << usage_text;
      std::exit(0);
    }
    if (i + 1 >= argc) {
      fail(flag + ": missing value");
      throw std::invalid_argument(flag + ": missing value");
    }
    on(flag, argv[++i]);
  }
}

}  // namespace lockstep::kit
