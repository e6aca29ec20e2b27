#include "lockstep/kit/poll.hpp"

#include <thread>

namespace lockstep::kit {

bool poll_until(std::chrono::milliseconds timeout, const std::function<bool()>& pred, std::chrono::milliseconds every) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(every);
  }
}

}  // namespace lockstep::kit
