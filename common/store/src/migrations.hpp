#pragma once
#include <string>
#include <vector>

namespace lockstep {
struct Migration {
  int version;
  std::string name;
  std::string up;
  std::string down;
};
// Embedded from migrations/*.sql at build time, ordered by version.
const std::vector<Migration>& migrations();
}  // namespace lockstep
