#include "consume/rebalance.hpp"

#include <spdlog/spdlog.h>

#include <set>

namespace lockstep::runtime {

void Rebalance::on_assign(const std::vector<TopicPartition>& parts) {
  readiness_.joined = true;
  book_.assign(parts);
  for (const auto& p : parts) {
    board_.assigned(p.topic, p.partition);
    spdlog::info("assigned {}", tp_name(p.topic, p.partition));
  }
}

void Rebalance::on_revoke(const std::vector<TopicPartition>& parts, bool lost) {
  std::set<TopicPartition> revoked;
  for (const auto& p : parts) revoked.insert(TopicPartition{p.topic, p.partition});
  if (revoked.empty()) return;  // cooperative-sticky: nothing of ours moves
  const auto is_revoked = [&](const Work& w) {
    return revoked.count(TopicPartition{w.src.topic, w.src.partition}) > 0;
  };
  const bool stopping = readiness_.stopping;
  const auto dropped = sched_.drop_if(is_revoked);
  // Let the revoked partitions' events already running finish so their
  // outcomes count in the final commit. Only theirs: with cooperative-sticky
  // the partitions that stay keep running, and their queue may never drain.
  // While stopping, shutdown() has already waited for what runs.
  const auto deadline = Clock::now() + milliseconds(stopping ? 0 : std::min(shutdown_timeout_ms_, 10000));
  while (sched_.in_flight_if(is_revoked) > 0 && Clock::now() < deadline && !stop_) poll_producer_(milliseconds(5));
  // Events that failed meanwhile went back to wait: they belong to the next owner now.
  sched_.drop_if(is_revoked);
  if (lost) {
    // The group gave these partitions away already (this member missed its
    // session timeout): a commit would be refused, the next owner re-reads
    // from the last commit, and outcomes already recorded make it a no-op.
    spdlog::warn("partitions lost to the group (session timeout missed): their last events are re-read by the "
                 "next owner");
  } else {
    // Inside the rebalance callback: no poll(); librdkafka looks up the coordinator itself.
    // While stopping, shutdown() has already retried: one attempt is enough.
    const auto commit_deadline = stopping ? Clock::now() : std::max(deadline, Clock::now() + milliseconds(2000));
    if (!committer_.commit_until(commit_deadline, &revoked, false))
      spdlog::warn("final offset commit for revoked partitions failed: the next owner re-reads their last events");
  }
  book_.release(revoked, [&](const TopicPartition& tp) {
    metrics_.remove_lag(tp.topic, tp.partition);  // its lag is the next owner's to report
    metrics_.set_paused(tp.topic, tp.partition, "");
    board_.released(tp.topic, tp.partition);
    spdlog::info("revoked {} ({} queued events released to the next owner)", tp_name(tp.topic, tp.partition),
                 dropped);
  });
}

}  // namespace lockstep::runtime
