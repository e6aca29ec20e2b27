// State machines (docs/machines.md) and the pure decision of one transition.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <variant>

#include "lockstep/event.hpp"

namespace lockstep {

// `from` may contain "new" (aggregate does not exist yet) and "*" (any existing state).
struct Transition {
  std::set<std::string> from;
  std::optional<std::string> to;  // nullopt: state unchanged (plain edit)
};

struct Machine {
  std::map<std::string, Transition> transitions;
};

using MachineSet = std::map<std::string, Machine>;  // aggregate_type -> machine

inline constexpr const char* kStateNew = "new";
inline constexpr const char* kStateAny = "*";

// The stored aggregate as read (without a lock) before the decision.
struct Snapshot {
  bool exists = false;
  std::string state;     // empty when !exists
  int64_t version = 0;   // 0 when !exists
  Json data = Json::object();
  std::string updated_at;  // as text from the store, empty when !exists
  std::string updated_by;
};

enum class DeadReason { malformed, unknown_transition, version_conflict, invalid_transition, retries_exhausted };
const char* to_string(DeadReason r);
std::optional<DeadReason> dead_reason_from_string(std::string_view s);

// The write a successful check produces: CAS from read_version to read_version+1.
struct Apply {
  std::optional<std::string> from_state;  // nullopt on creation
  std::string to_state;
  int64_t read_version = 0;  // 0 = create
  Json new_data;
};

struct Reject {
  DeadReason reason;
  std::string detail;
};

using Decision = std::variant<Apply, Reject>;

// Pure decision for one event against a fresh snapshot (docs/event.md "Outcomes" order:
// unknown_transition, version_conflict, invalid_transition, then apply with
// RFC 7396 merge patch of payload onto data).
Decision decide(const MachineSet& machines, const Event& e, const Snapshot& s);

// Does the machine allow `transition` from `state` ("new" for a missing aggregate)?
// Used by `decide` and by the invariant checker.
bool transition_allowed(const Machine& m, const std::string& transition, bool exists,
                        const std::string& state);

}  // namespace lockstep
