// Shared by the dead-letter operations' sources (dlq_ops.cpp, dlq_actions.cpp).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "lockstep/dlq_ops.hpp"

namespace lockstep::dlq {

// Why a dead letter cannot be acted on, or nullopt when it can.
using Refusal = std::function<std::optional<std::string>(const DeadLetterRecord&)>;

// The open dead letters `s` names, before anything is done. By ids: each must
// exist (NotFound) and be open and not refused (Conflict; `what` names the
// operation). By filter: every open match, those refused counted in `skipped`.
std::vector<DeadLetterRecord> select_targets(DeadLetterAdmin& admin, const Selection& s, const std::string& what,
                                             const Refusal& refusal, std::size_t& skipped);

}  // namespace lockstep::dlq
