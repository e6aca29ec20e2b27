// `lockstep dlq`: how list, show, replay, discard and drain print what the
// dead-letter operations (lockstep/dlq_ops.hpp) select, check and do.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "cli.hpp"
#include "lockstep/dlq_ops.hpp"
#include "lockstep/store.hpp"

namespace lockstep::cli {

// How long each replay's publish may take, and whether --timeout-ms set it.
struct PublishTimeout {
  std::chrono::milliseconds timeout{30000};
  bool explicit_timeout = false;
};

// Who is acting: --by, else LOCKSTEP_OPERATOR, else the login name with "@host".
std::string operator_name(const std::optional<std::string>& by);

int list(DeadLetterAdmin& store, const DeadLetterAdmin::DeadLetterFilter& filter, bool json);
int show(DeadLetterAdmin& store, OutcomeStore& outcomes, int64_t id);
int replay(const Config& cfg, Store& store, const dlq::Selection& sel, const dlq::ReplayRequest& r,
           const PublishTimeout& t);
int discard(DeadLetterAdmin& store, const dlq::Selection& sel, const std::string& by, const std::string& note,
            bool dry_run);
int drain(const Config& cfg, DeadLetterAdmin& store, const std::string& topic, std::chrono::milliseconds timeout);

}  // namespace lockstep::cli
