// Dead-letter operations (dlq_ops.hpp): replay and discard, one dead letter at a
// time, each closed in the transaction that holds its row.
#include "ops_internal.hpp"

namespace lockstep::dlq {
namespace {

void report(Report& rep, ItemResult item, const std::function<void(const ItemResult&)>& progress) {
  rep.items.push_back(std::move(item));
  if (progress) progress(rep.items.back());
}

ItemResult item_of(const DeadLetterRecord& d, const char* status) {
  ItemResult it;
  it.id = d.id;
  it.event_id = d.event_id;
  it.reason = d.reason;
  it.status = status;
  return it;
}

// Publishes the replay of `t` while its row is locked and records it; the item
// is "lost" when someone else resolved it meanwhile.
ItemResult replay_one(DeadLetterAdmin& admin, OutcomeStore& reader, const DeadLetterRecord& t, const ReplayRequest& r,
                      const Publish& publish) {
  ItemResult it = item_of(t, "replayed");
  const DeadLetterAdmin::Resolution res{"replayed", r.by, r.note, replay_event_id(t.event_id, t.id)};
  const bool ok = admin.resolve_dead_letter(t.id, res, [&](const DeadLetterRecord& d) {
    Snapshot current;
    if (r.mode == VersionMode::rebase && d.aggregate_type && d.aggregate_id)
      current = reader.read({AggregateRef{*d.aggregate_type, *d.aggregate_id}}).at(0);
    const OutMessage msg = replay_message(d, r.mode, current, r.topic.value_or(d.src.topic), r.by);
    const auto fail = [&](const std::string& why) {
      return KafkaError("publishing the replay of dead letter " + std::to_string(d.id) + " to " + msg.topic +
                        " failed: " + why + " (nothing recorded; run the replay again)");
    };
    Delivery delivered;
    try {
      delivered = publish(msg);
    } catch (const KafkaError& e) {
      throw fail(e.what());
    }
    if (delivered.error) throw fail(delivered.error.str());
    it.topic = msg.topic;
    it.partition = delivered.partition;
    it.offset = delivered.offset;
    return true;
  });
  if (!ok) return item_of(t, "lost");
  it.replay_event_id = res.replay_event_id;
  return it;
}

}  // namespace

Report replay(DeadLetterAdmin& admin, OutcomeStore& reader, const Selection& s, const ReplayRequest& r,
              const Publish& publish, const std::function<void(const ItemResult&)>& progress) {
  check_replay(s, r);
  Report rep;
  const auto targets = select_targets(
      admin, s, "replay",
      [&](const DeadLetterRecord& d) {
        auto c = d;
        if (r.topic) c.src.topic = *r.topic;
        return replay_refusal(c, r.mode);
      },
      rep.skipped);
  for (const auto& t : targets) {
    if (r.dry_run) {
      auto it = item_of(t, "would_replay");
      it.replay_event_id = replay_event_id(t.event_id, t.id);
      it.topic = r.topic.value_or(t.src.topic);
      report(rep, std::move(it), progress);
      continue;
    }
    report(rep, replay_one(admin, reader, t, r, publish), progress);
  }
  return rep;
}

Report discard(DeadLetterAdmin& admin, const Selection& s, const std::string& by, const std::string& note,
               bool dry_run, const std::function<void(const ItemResult&)>& progress) {
  check_discard(s, by, note);
  Report rep;
  const auto targets = select_targets(
      admin, s, "discard", [](const DeadLetterRecord&) -> std::optional<std::string> { return std::nullopt; },
      rep.skipped);
  for (const auto& t : targets) {
    if (dry_run) {
      report(rep, item_of(t, "would_discard"), progress);
      continue;
    }
    const bool ok = admin.resolve_dead_letter(t.id, DeadLetterAdmin::Resolution{"discarded", by, note, std::nullopt},
                                              [](const DeadLetterRecord&) { return true; });
    report(rep, item_of(t, ok ? "discarded" : "lost"), progress);
  }
  return rep;
}

}  // namespace lockstep::dlq
