#include "lockstep/test/support.hpp"
#include "lockstep/verify.hpp"

namespace lockstep::test {

std::vector<std::string> invariant_violations(const TestDb& db, const MachineSet& machines) {
  std::vector<std::string> out;
  for (const auto& c : verify(db.url(), machines, {}))
    if (!c.ok()) out.push_back(format(c));
  return out;
}

}  // namespace lockstep::test
