// What the worker publishes: the dead-letter relay (docs/operations.md "The dead-letter record") and outcome
// messages (§4), in the formats of lockstep_wire.
#include "outcome/messages.hpp"

#include <spdlog/spdlog.h>

namespace lockstep {

DeadLetterRelay::Pass DeadLetterRelay::run_once(Outbox& outbox, std::size_t limit, const std::atomic<bool>* abort,
                                                const std::function<void(bool)>& publishing) {
  Pass pass;
  const auto r = outbox.relay_dead_letters(limit, [&](const std::vector<DeadLetterRecord>& recs) {
    std::vector<OutMessage> msgs;
    msgs.reserve(recs.size());
    for (const auto& rec : recs) msgs.push_back(dead_letter_message(rec, topic_, max_bytes_));
    if (publishing) publishing(true);
    const auto ds = producer_.send(msgs, send_timeout_, abort);
    if (publishing) publishing(false);
    std::vector<Outbox::PublishResult> out(ds.size());
    for (std::size_t i = 0; i < ds.size(); ++i) {
      out[i].delivered = !ds[i].error;
      out[i].permanent = ds[i].permanent;
      out[i].error = ds[i].error.str();
      if (out[i].delivered) continue;
      if (metrics_) metrics_->infra_error("kafka");
      spdlog::error("dead-letter publish failed for event {} ({}/{}@{}){}: {}", recs[i].event_id, recs[i].src.topic,
                    recs[i].src.partition, recs[i].src.offset, ds[i].permanent ? " (refused, deferred)" : "",
                    ds[i].error.str());
      pass.last_error = ds[i].error;
    }
    return out;
  });
  static_cast<Outbox::RelayResult&>(pass) = r;
  return pass;
}

OutMessage outcome_message(const Work& w, const ItemResult& r, const std::string& topic) {
  wire::OutcomeMessage o;
  o.event_id = idempotency_key(w);
  o.outcome = to_string(r.outcome);
  if (const auto* e = w.event()) {
    o.aggregate_type = e->aggregate_type;
    o.aggregate_id = e->aggregate_id;
  }
  if (r.outcome == Outcome::dead_lettered && r.reason) o.reason = to_string(*r.reason);
  o.version = r.version;
  o.state = r.state;
  if (r.outcome == Outcome::duplicate) o.first = r.first;
  return wire::outcome_message(o, w.kafka_key, topic);
}

}  // namespace lockstep
