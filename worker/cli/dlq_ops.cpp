// `lockstep dlq`: what each operation does, once its command line is checked.
#include <limits.h>
#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <iomanip>
#include <iostream>

#include "dlq_ops.hpp"
#include "lockstep/kafka.hpp"

namespace lockstep::cli {
namespace {

Json opt_json(const std::optional<std::string>& s) { return s ? Json(*s) : Json(nullptr); }

Json to_json(const DeadLetterRecord& d) {
  Json j = {{"id", d.id},
            {"event_id", d.event_id},
            {"reason", d.reason},
            {"detail", d.detail},
            {"aggregate_type", opt_json(d.aggregate_type)},
            {"aggregate_id", opt_json(d.aggregate_id)},
            {"source", {{"topic", d.src.topic}, {"partition", d.src.partition}, {"offset", d.src.offset}}},
            {"attempts", d.attempts},
            {"status", d.status},
            {"created_at", d.created_at},
            {"resolved_at", opt_json(d.resolved_at)},
            {"resolved_by", opt_json(d.resolved_by)},
            {"note", opt_json(d.note)},
            {"replay_event_id", opt_json(d.replay_event_id)}};
  if (d.reason != "malformed" && d.event)
    j["event"] = *d.event;
  else
    j["raw_base64"] = base64_encode(d.raw);
  j["conflict"] = d.conflict ? *d.conflict : Json(nullptr);
  return j;
}

std::string describe_resolution(const DeadLetterRecord& d) {
  std::string s = d.status;
  if (d.resolved_by) s += " by " + *d.resolved_by;
  if (d.resolved_at) s += " at " + *d.resolved_at;
  return s;
}

int nothing_to_do() {
  std::cout << "nothing to do: no open dead letters match\n";
  return 0;
}

// The open dead letters a replay/discard acts on; refuses (exit 2) before anything is done.
std::vector<DeadLetterRecord> resolve_targets(DeadLetterAdmin& store, Selection& sel, const std::string& what,
                                              const std::function<std::optional<std::string>(const DeadLetterRecord&)>&
                                                  refusal,
                                              std::size_t& skipped) {
  std::vector<DeadLetterRecord> out;
  if (!sel.ids.empty()) {
    std::set<int64_t> seen;
    for (const auto id : sel.ids) {
      if (!seen.insert(id).second) continue;
      auto d = store.get_dead_letter(id);
      if (!d) throw UsageError("no dead letter with id " + std::to_string(id));
      if (d->status != "open")
        throw UsageError("cannot " + what + " dead letter " + std::to_string(id) + ": it is already " +
                         describe_resolution(*d));
      if (auto why = refusal(*d)) throw UsageError("cannot " + what + " dead letter " + std::to_string(id) + ": " + *why);
      out.push_back(std::move(*d));
    }
    return out;
  }
  auto f = sel.filter;
  f.status = "open";
  f.limit = 1000;
  for (;;) {
    auto page = store.list_dead_letters(f);
    for (auto& d : page) {
      if (refusal(d)) {
        ++skipped;
        continue;
      }
      out.push_back(std::move(d));
    }
    if (page.size() < f.limit) break;
    f.after_id = page.back().id;
  }
  return out;
}

}  // namespace

// Who is acting: --by, else LOCKSTEP_OPERATOR, else the login name; "@host" added to the last two.
std::string operator_name(const std::optional<std::string>& by) {
  if (by) return *by;
  std::string who;
  if (const char* o = std::getenv("LOCKSTEP_OPERATOR"); o && *o) return o;
  if (const char* u = std::getenv("USER"); u && *u) who = u;
  if (who.empty())
    if (const passwd* pw = getpwuid(geteuid())) who = pw->pw_name;
  if (who.empty()) who = "uid" + std::to_string(geteuid());
  char host[HOST_NAME_MAX + 1] = {};
  if (gethostname(host, sizeof host - 1) == 0 && host[0]) who += std::string("@") + host;
  return who;
}

int list(DeadLetterAdmin& store, Selection& sel, bool json) {
  auto rows = store.list_dead_letters(sel.filter);
  if (json) {
    Json arr = Json::array();
    for (const auto& d : rows) arr.push_back(to_json(d));
    std::cout << arr.dump(2) << "\n";
    return 0;
  }
  std::cout << std::left << std::setw(8) << "ID" << std::setw(38) << "EVENT_ID" << std::setw(20) << "REASON"
            << std::setw(11) << "STATUS" << std::setw(26) << "CREATED_AT" << "AGGREGATE\n";
  for (const auto& d : rows) {
    std::cout << std::left << std::setw(8) << d.id << std::setw(38) << d.event_id.substr(0, 36) << std::setw(20)
              << d.reason << std::setw(11) << d.status << std::setw(26) << d.created_at
              << (d.aggregate_type ? *d.aggregate_type + ":" + d.aggregate_id.value_or("") : "-") << "\n";
  }
  if (rows.size() == sel.filter.limit)
    std::cerr << "(first " << rows.size() << " rows; --limit N for more)\n";
  return 0;
}

// A replayed dead letter shows what became of its replay: the outcome of the
// replay's event_id, from `outcomes`.
int show(DeadLetterAdmin& store, OutcomeStore& outcomes, int64_t id) {
  auto d = store.get_dead_letter(id);
  if (!d) throw UsageError("no dead letter with id " + std::to_string(id));
  Json j = to_json(*d);
  if (d->replay_event_id) {
    const auto prior = outcomes.find_outcomes({*d->replay_event_id});
    Json r = {{"event_id", *d->replay_event_id}};
    if (auto it = prior.find(*d->replay_event_id); it != prior.end()) {
      r["outcome"] = it->second.outcome;
      r["reason"] = opt_json(it->second.reason);
      r["version"] = it->second.version ? Json(*it->second.version) : Json(nullptr);
      r["state"] = opt_json(it->second.state);
    } else {
      r["outcome"] = nullptr;  // not processed yet
    }
    j["replay"] = r;
  }
  std::cout << j.dump(2) << "\n";
  return 0;
}

int replay(const Config& cfg, DeadLetterAdmin& store, Selection& sel, const ReplayArgs& a) {
  const auto mode = a.mode;
  const auto& by = a.by;
  const auto& note = a.note;
  const auto& topic = a.topic;
  const bool dry_run = a.dry_run;
  const auto timeout = a.timeout;
  const bool explicit_timeout = a.explicit_timeout;
  std::size_t skipped = 0;
  auto targets = resolve_targets(
      store, sel, "replay",
      [&](const DeadLetterRecord& d) -> std::optional<std::string> {
        auto c = d;
        if (topic) c.src.topic = *topic;
        return dlq::replay_refusal(c, mode);
      },
      skipped);
  if (skipped)
    std::cerr << "dlq replay: " << skipped << " matching dead letter(s) skipped (malformed"
              << (mode != dlq::VersionMode::keep ? ", or not version_conflict" : "") << ")\n";
  if (targets.empty()) return nothing_to_do();
  if (dry_run) {
    std::cout << "dry run: would replay " << targets.size() << " dead letter(s); nothing changed\n";
    for (const auto& d : targets)
      std::cout << "would replay id=" << d.id << " event_id=" << d.event_id << " reason=" << d.reason
                << " as=" << dlq::replay_event_id(d.event_id, d.id) << " topic=" << topic.value_or(d.src.topic)
                << "\n";
    return 0;
  }
  std::cerr << "dlq replay: replaying " << targets.size() << " dead letter(s)\n";
  Producer producer(cfg.kafka.brokers, bounded_props(cfg, timeout, explicit_timeout));
  auto reader = open_store(cfg.database.url);  // reads the current aggregate while `store` holds the row
  std::size_t done = 0, lost = 0;
  for (const auto& t : targets) {
    if (mode == dlq::VersionMode::keep && t.reason == "version_conflict")
      std::cerr << "dlq replay: dead letter " << t.id
                << " is a version_conflict replayed unchanged: it conflicts again unless the aggregate is back at "
                   "its expected version (--rebase or --no-version-check change that)\n";
    DeadLetterAdmin::Resolution res{"replayed", by, note, dlq::replay_event_id(t.event_id, t.id)};
    Delivery delivered;
    OutMessage msg;
    const bool ok = store.resolve_dead_letter(t.id, res, [&](const DeadLetterRecord& d) {
      Snapshot current;
      if (mode == dlq::VersionMode::rebase && d.aggregate_type && d.aggregate_id)
        current = reader->read({AggregateRef{*d.aggregate_type, *d.aggregate_id}}).at(0);
      msg = dlq::replay_message(d, mode, current, topic.value_or(d.src.topic), by);
      const auto ds = producer.send({msg}, timeout);
      if (ds.empty() || ds[0].error)
        throw KafkaError("publishing the replay of dead letter " + std::to_string(d.id) + " to " + msg.topic +
                         " failed: " + (ds.empty() ? std::string("no delivery report") : ds[0].error.str()) +
                         " (nothing recorded; run the replay again)");
      delivered = ds[0];
      return true;
    });
    if (!ok) {
      ++lost;
      std::cerr << "dlq replay: dead letter " << t.id << " was resolved by someone else meanwhile: skipped\n";
      continue;
    }
    ++done;
    std::cout << "replayed id=" << t.id << " event_id=" << t.event_id << " as=" << *res.replay_event_id
              << " topic=" << msg.topic << " partition=" << delivered.partition << " offset=" << delivered.offset
              << std::endl;
  }
  std::cerr << "dlq replay: " << done << " replayed" << (lost ? ", " + std::to_string(lost) + " skipped" : "")
            << "\n";
  return 0;
}

int discard(DeadLetterAdmin& store, Selection& sel, const std::string& by, const std::string& note, bool dry_run) {
  std::size_t skipped = 0;
  auto targets = resolve_targets(
      store, sel, "discard", [](const DeadLetterRecord&) -> std::optional<std::string> { return std::nullopt; },
      skipped);
  if (targets.empty()) return nothing_to_do();
  if (dry_run)
    std::cout << "dry run: would discard " << targets.size() << " dead letter(s); nothing changed\n";
  else
    std::cerr << "dlq discard: discarding " << targets.size() << " dead letter(s)\n";
  std::size_t done = 0, lost = 0;
  for (const auto& t : targets) {
    if (dry_run) {
      std::cout << "would discard id=" << t.id << " event_id=" << t.event_id << " reason=" << t.reason << "\n";
      continue;
    }
    const bool ok = store.resolve_dead_letter(t.id, DeadLetterAdmin::Resolution{"discarded", by, note, std::nullopt},
                                              [](const DeadLetterRecord&) { return true; });
    if (!ok) {
      ++lost;
      std::cerr << "dlq discard: dead letter " << t.id << " was resolved by someone else meanwhile: skipped\n";
      continue;
    }
    ++done;
    std::cout << "discarded id=" << t.id << " event_id=" << t.event_id << std::endl;
  }
  if (!dry_run)
    std::cerr << "dlq discard: " << done << " discarded" << (lost ? ", " + std::to_string(lost) + " skipped" : "")
              << "\n";
  return 0;
}

int drain(const Config& cfg, DeadLetterAdmin& store, const std::string& topic, std::chrono::milliseconds timeout) {
  const auto msgs = read_topics(cfg.kafka.brokers, cfg.kafka.properties, {topic}, timeout);
  std::size_t added = 0, present = 0, unreadable = 0;
  std::vector<DeadLetterRecord> batch;
  auto flush = [&] {
    if (batch.empty()) return;
    const auto st = store.import_dead_letters(batch);
    for (const auto s : st) (s == WriteStatus::written ? added : present)++;
    batch.clear();
  };
  for (const auto& m : msgs) {
    auto r = dlq::parse_dead_letter_message(m);
    if (auto* why = std::get_if<std::string>(&r)) {
      ++unreadable;
      std::cerr << "dlq drain: " << m.topic << "/" << m.partition << "@" << m.offset
                << " is not a dead-letter message (" << *why << "): skipped\n";
      continue;
    }
    batch.push_back(std::move(std::get<DeadLetterRecord>(r)));
    if (batch.size() == 500) flush();
  }
  flush();
  std::cout << "drained " << msgs.size() << " message(s) from " << topic << ": " << added << " new, " << present
            << " already present, " << unreadable << " unreadable" << std::endl;
  return 0;
}

}  // namespace lockstep::cli
