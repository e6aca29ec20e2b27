#include "commit/committer.hpp"

#include <spdlog/spdlog.h>

#include <thread>

namespace lockstep::runtime {

void Committer::loop() {
  while (!stopping_) {
    commit(false, nullptr, milliseconds(kCommitWaitMs), &stopping_);
    waker_.wait_for(milliseconds(200));
  }
}

bool Committer::commit(bool all, const std::set<TopicPartition>* only, milliseconds timeout,
                       const std::atomic<bool>* give_up) {
  const auto until = Clock::now() + timeout;
  // Not std::timed_mutex: ThreadSanitizer does not see its timed lock
  // (pthread_mutex_clocklock) and reports every unlock. Contention is rare
  // (a rebalance or shutdown meeting the committer thread).
  while (!mu_.try_lock()) {
    if (Clock::now() >= until) return false;
    std::this_thread::sleep_for(milliseconds(5));
  }
  std::unique_lock commit_lk(mu_, std::adopt_lock);
  const auto positions = book_.take_positions(all, only);
  if (positions.empty()) return true;
  const auto err = consumer_.commit(positions, /*async=*/false, left_until(until, milliseconds(1)), give_up);
  if (err) {
    metrics_.infra_error("kafka");
    spdlog::warn("offset commit failed ({}), will retry: {}", positions.size(), err.str());
    book_.unsend(positions);
    return false;
  }
  for (const auto& p : positions) spdlog::debug("committed {}@{}", tp_name(p.topic, p.partition), p.offset);
  return true;
}

bool Committer::commit_until(Clock::time_point deadline, const std::set<TopicPartition>* only, bool may_poll) {
  for (;;) {
    // At least a short wait for the answer, also past the deadline: one
    // attempt is always made. A stop asked for meanwhile ends the retries.
    if (commit(true, only, std::min(left_until(deadline, milliseconds(200)), milliseconds(kCommitWaitMs))))
      return true;
    if (Clock::now() >= deadline || (!stopping_ && stop_asked())) return false;
    if (may_poll)
      (void)consumer_.poll(milliseconds(50));  // serves coordinator lookups and callbacks
    else
      std::this_thread::sleep_for(milliseconds(50));
  }
}

bool Committer::coordinator_has_positions(milliseconds timeout) {
  const auto mine = book_.positions();
  if (mine.empty()) return true;
  try {
    for (const auto& c : consumer_.committed(mine, timeout)) {
      const auto it = std::find(mine.begin(), mine.end(), c);
      if (it == mine.end() || c.offset != it->offset) {
        spdlog::warn("committed position of {} is {}, expected {}: committing again", tp_name(c.topic, c.partition),
                     c.offset, it == mine.end() ? -1 : it->offset);
        return false;
      }
    }
    return true;
  } catch (const KafkaError& e) {
    spdlog::warn("cannot read back committed offsets: {}", e.what());
    return false;
  }
}

bool Committer::final_commit(Clock::time_point deadline) {
  bool committed = false;
  while (!committed) {
    committed = commit_until(deadline, nullptr, true) &&
                coordinator_has_positions(std::min(milliseconds(2000), left_until(deadline)));
    if (committed || Clock::now() >= deadline) break;
    (void)consumer_.poll(milliseconds(50));
  }
  return committed;
}

void Committer::confirm_after_close(const std::vector<TopicPartition>& mine, Clock::time_point deadline) {
  if (mine.empty()) return;
  try {
    Consumer probe(kafka_.brokers, kafka_.group_id, kafka_.properties, {});
    struct Close {  // within the deadline, also when it throws
      Consumer& c;
      Clock::time_point until;
      ~Close() { c.close(left_until(until)); }
    } close{probe, deadline};
    for (;;) {
      std::vector<TopicPartition> behind;
      for (const auto& c : probe.committed(mine, std::min(milliseconds(2000), left_until(deadline)))) {
        const auto it = std::find(mine.begin(), mine.end(), c);
        if (it != mine.end() && c.offset < it->offset) behind.push_back(*it);
      }
      if (behind.empty()) return;
      spdlog::warn("{} partition(s) fell behind their final commit while closing: committing them again",
                   behind.size());
      const auto err = probe.commit(behind, false, left_until(deadline));
      if (err || Clock::now() >= deadline) {
        if (err) spdlog::warn("re-commit after close refused: {}", err.str());
        return;
      }
    }
  } catch (const KafkaError& e) {
    spdlog::warn("cannot confirm the final offsets after closing: {}", e.what());
  }
}

}  // namespace lockstep::runtime
