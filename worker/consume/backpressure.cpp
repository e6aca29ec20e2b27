#include "consume/backpressure.hpp"

namespace lockstep::runtime {

FetchVerdict fetch_verdict(const FetchSignals& s, bool paused, const std::string& pause_reason) {
  const bool db_fault = (!s.db_ok || s.db_stalled) && s.inflight > 0;
  const bool broker_fault = !s.relay_ok || ((!s.outcome_ok || s.publish_stalled) && s.inflight > 0);
  FetchVerdict v;
  v.want_pause = s.inflight >= s.max_inflight || db_fault || broker_fault;
  v.want_resume = s.inflight < s.max_inflight / 2 && !db_fault && !broker_fault;
  v.reason = s.inflight >= s.max_inflight ? "backpressure"
             : db_fault                   ? "database"
             : broker_fault               ? "broker"
                                          : (paused ? pause_reason : "");
  return v;
}

}  // namespace lockstep::runtime
