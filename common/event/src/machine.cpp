// State machines (docs/machines.md) and the pure decision for one event (docs/event.md "Outcomes").
#include "lockstep/machine.hpp"

#include <string>
#include <utility>

namespace lockstep {

namespace {

// Short printable rendering of a name taken from an event, for details.
std::string echo(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  constexpr std::size_t kMax = 64;
  std::string out = "'";
  std::size_t count = 0;
  for (std::size_t i = 0; i < s.size();) {
    if (count == kMax) {
      out += "...";
      break;
    }
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x20 || b == 0x7F) {
      out += "\\x";
      out += kHex[b >> 4];
      out += kHex[b & 0xF];
      ++i;
    } else {
      // Copy one code point (events are valid UTF-8 after parse_event).
      std::size_t len = 1;
      while (i + len < s.size() && (static_cast<unsigned char>(s[i + len]) & 0xC0) == 0x80) ++len;
      out.append(s.substr(i, len));
      i += len;
    }
    ++count;
  }
  out += "'";
  return out;
}

std::string state_name(bool exists, const std::string& state) {
  return exists ? echo(state) : std::string("'") + kStateNew + "'";
}

}  // namespace

const char* to_string(DeadReason r) {
  switch (r) {
    case DeadReason::malformed: return "malformed";
    case DeadReason::unknown_transition: return "unknown_transition";
    case DeadReason::version_conflict: return "version_conflict";
    case DeadReason::invalid_transition: return "invalid_transition";
    case DeadReason::retries_exhausted: return "retries_exhausted";
  }
  return "unknown";
}

std::optional<DeadReason> dead_reason_from_string(std::string_view s) {
  for (const auto r : {DeadReason::malformed, DeadReason::unknown_transition,
                       DeadReason::version_conflict, DeadReason::invalid_transition,
                       DeadReason::retries_exhausted}) {
    if (s == to_string(r)) return r;
  }
  return std::nullopt;
}

bool transition_allowed(const Machine& m, const std::string& transition, bool exists,
                        const std::string& state) {
  const auto it = m.transitions.find(transition);
  if (it == m.transitions.end()) return false;
  const auto& from = it->second.from;
  if (!exists) return from.count(kStateNew) > 0;
  return from.count(state) > 0 || from.count(kStateAny) > 0;
}

Decision decide(const MachineSet& machines, const Event& e, const Snapshot& s) {
  // 1. unknown_transition
  const auto mit = machines.find(e.aggregate_type);
  if (mit == machines.end()) {
    return Reject{DeadReason::unknown_transition,
                  "unknown aggregate_type " + echo(e.aggregate_type)};
  }
  const Machine& machine = mit->second;
  const auto tit = machine.transitions.find(e.transition);
  if (tit == machine.transitions.end()) {
    return Reject{DeadReason::unknown_transition, "unknown transition " + echo(e.transition) +
                                                      " for aggregate_type " +
                                                      echo(e.aggregate_type)};
  }
  const Transition& t = tit->second;

  // 2. version_conflict
  const int64_t stored_version = s.exists ? s.version : 0;
  if (e.expected_version && *e.expected_version != stored_version) {
    return Reject{DeadReason::version_conflict,
                  "expected version " + std::to_string(*e.expected_version) +
                      ", stored version " + std::to_string(stored_version)};
  }

  // 3. expected_state
  if (e.expected_state) {
    if (!s.exists) {
      return Reject{DeadReason::invalid_transition,
                    "expected state " + echo(*e.expected_state) +
                        ", but the aggregate does not exist"};
    }
    if (*e.expected_state != s.state) {
      return Reject{DeadReason::invalid_transition, "expected state " + echo(*e.expected_state) +
                                                        ", stored state " + echo(s.state)};
    }
  }

  // 4. the machine's `from`
  if (!transition_allowed(machine, e.transition, s.exists, s.state)) {
    return Reject{DeadReason::invalid_transition, "transition " + echo(e.transition) +
                                                      " not allowed from state " +
                                                      state_name(s.exists, s.state)};
  }

  // A new aggregate needs a state: a creating transition must name its `to`.
  if (!s.exists && (!t.to || t.to->empty())) {
    return Reject{DeadReason::invalid_transition,
                  "transition " + echo(e.transition) +
                      " has no target state and cannot create a new aggregate"};
  }

  // 5. apply
  Apply a;
  if (s.exists) a.from_state = s.state;
  a.to_state = t.to.value_or(s.state);
  a.read_version = stored_version;
  a.new_data = s.data.is_object() ? s.data : Json::object();
  if (e.payload) a.new_data.merge_patch(*e.payload);
  return a;
}

}  // namespace lockstep
