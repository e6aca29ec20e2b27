#include "runtime/readiness.hpp"

#include <spdlog/spdlog.h>

namespace lockstep::runtime {

bool Readiness::ready() const {
  return db_ok.load() && !db_stalled.load() && relay_ok.load() && outcome_ok.load() && !broker_silent() &&
         !publish_stalled.load() && joined.load() && !stopping.load();
}

std::vector<std::string> Readiness::not_ready() const {
  std::vector<std::string> why;
  if (!db_ok) why.emplace_back("database not answering");
  if (db_stalled) why.emplace_back("database call stalled");
  if (broker_silent()) why.emplace_back("broker silent");
  if (!relay_ok) why.emplace_back("dead letters not reaching the broker");
  if (!outcome_ok) why.emplace_back("outcome messages not reaching the broker");
  if (publish_stalled) why.emplace_back("outcome or dead-letter publish stalled");
  if (!joined) why.emplace_back("no partitions assigned");
  if (stopping) why.emplace_back("stopping");
  return why;
}

bool Readiness::broker_silent() const {
  const Clock::time_point answered{Clock::duration{broker_answered_at_.load()}};
  return Clock::now() - answered >= milliseconds(kBrokerStallMs);
}

void Readiness::check_publish_stall(std::optional<Clock::time_point> oldest_outcome,
                                    int64_t relay_publishing_since_ms) {
  const auto now = Clock::now();
  bool stalled = oldest_outcome && now - *oldest_outcome >= milliseconds(kPublishStallMs);
  if (relay_publishing_since_ms != 0 && now_ms() - relay_publishing_since_ms >= kPublishStallMs) stalled = true;
  if (stalled && !publish_stalled)
    spdlog::error("the broker has not acknowledged an outcome or dead-letter message for {} ms: reporting not ready",
                  kPublishStallMs);
  else if (!stalled && publish_stalled)
    spdlog::info("outcome and dead-letter messages are acknowledged again");
  publish_stalled = stalled;
}

}  // namespace lockstep::runtime
