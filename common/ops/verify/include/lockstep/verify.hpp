// The invariant checker (issue #4): what must hold on any Lockstep database,
// and between it and the topics, after races, crashes and faults.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "lockstep/event.hpp"
#include "lockstep/kafka.hpp"
#include "lockstep/machine.hpp"

namespace lockstep {

struct InvariantCheck {
  std::string name;                   // what must hold, in words
  long checked = 0;                   // how many things were looked at
  long violations = 0;                // how many broke it
  std::vector<std::string> examples;  // up to 5 offending ids
  bool skipped = false;               // not checked (say why in `note`)
  std::string note;                   // extra counts or the reason for skipping

  bool ok() const { return skipped || violations == 0; }
};

struct VerifyInputs {
  // Every message of the input topics; nullopt: the checks that need them are skipped.
  std::optional<std::vector<Message>> events;
  // Every message of the dead-letter topic; nullopt: skipped likewise.
  std::optional<std::vector<Message>> dead_letters;
  ParseLimits limits;  // as the worker parses (limits.*), to derive the same idempotency keys
};

// Runs every check against the database at `database_url` (read-only, one
// snapshot; PostgreSQL or SQLite). Throws (TransientStoreError, std::runtime_error) when the
// database cannot be read.
std::vector<InvariantCheck> verify(const std::string& database_url, const MachineSet& machines,
                                   const VerifyInputs& inputs);

// "PASS|FAIL|SKIP  <name>: <checked> checked, <violations> violations[; note][; e.g. ids]"
std::string format(const InvariantCheck& c);

// The closing line: "all hold: 8 invariants", "violations in N of 8 invariants", or,
// when some were skipped, "6 hold, 2 skipped (<why>), 0 violated" (`why` may be empty).
std::string summary(const std::vector<InvariantCheck>& checks, const std::string& why_skipped = "");

}  // namespace lockstep
