#include "lockstep/kit/args.hpp"

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

}  // namespace lockstep::kit
