// Waiting with a deadline: polling, never a sleep as synchronisation.
#pragma once

#include <chrono>
#include <functional>

namespace lockstep::kit {

// Calls `pred` every `every` until it returns true or `timeout` has passed
// (then once more); whether it became true.
bool poll_until(std::chrono::milliseconds timeout, const std::function<bool()>& pred,
                std::chrono::milliseconds every = std::chrono::milliseconds(5));

}  // namespace lockstep::kit
