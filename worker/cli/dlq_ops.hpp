// `lockstep dlq`: the operations behind list, show, replay, discard and drain.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "cli.hpp"
#include "lockstep/dlq.hpp"
#include "lockstep/store.hpp"

namespace lockstep::cli {

// Which dead letters an operation acts on.
struct Selection {
  std::vector<int64_t> ids;  // explicit IDs, or
  bool all = false;          // every matching row (filters below)
  DeadLetterAdmin::DeadLetterFilter filter;
  bool has_filter = false;
};

struct ReplayArgs {
  dlq::VersionMode mode = dlq::VersionMode::keep;
  std::string by;
  std::optional<std::string> note;
  std::optional<std::string> topic;
  bool dry_run = false;
  std::chrono::milliseconds timeout{30000};
  bool explicit_timeout = false;
};

// Who is acting: --by, else LOCKSTEP_OPERATOR, else the login name with "@host".
std::string operator_name(const std::optional<std::string>& by);

int list(DeadLetterAdmin& store, Selection& sel, bool json);
int show(DeadLetterAdmin& store, OutcomeStore& outcomes, int64_t id);
int replay(const Config& cfg, DeadLetterAdmin& store, Selection& sel, const ReplayArgs& a);
int discard(DeadLetterAdmin& store, Selection& sel, const std::string& by, const std::string& note, bool dry_run);
int drain(const Config& cfg, DeadLetterAdmin& store, const std::string& topic, std::chrono::milliseconds timeout);

}  // namespace lockstep::cli
