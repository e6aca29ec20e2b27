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

int nothing_to_do() {
  std::cout << "nothing to do: no open dead letters match\n";
  return 0;
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

int list(DeadLetterAdmin& store, const DeadLetterAdmin::DeadLetterFilter& filter, bool json) {
  auto rows = store.list_dead_letters(filter);
  if (json) {
    Json arr = Json::array();
    for (const auto& d : rows) arr.push_back(dlq::dead_letter_json(d));
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
  if (rows.size() == filter.limit) std::cerr << "(first " << rows.size() << " rows; --limit N for more)\n";
  return 0;
}

int show(DeadLetterAdmin& store, OutcomeStore& outcomes, int64_t id) {
  std::cout << dlq::show(store, outcomes, id).dump(2) << "\n";
  return 0;
}

// A dry run first says how many there are (and how many are skipped) before
// anything is published; the replay itself prints each as it is done.
int replay(const Config& cfg, Store& store, const dlq::Selection& sel, const dlq::ReplayRequest& r,
           const PublishTimeout& t) {
  auto planned = r;
  planned.dry_run = true;
  const auto plan = dlq::replay(store, store, sel, planned, {});
  if (plan.skipped)
    std::cerr << "dlq replay: " << plan.skipped << " matching dead letter(s) skipped (malformed"
              << (r.mode != dlq::VersionMode::keep ? ", or not version_conflict" : "") << ")\n";
  if (plan.items.empty()) return nothing_to_do();
  if (r.dry_run) {
    std::cout << "dry run: would replay " << plan.items.size() << " dead letter(s); nothing changed\n";
    for (const auto& it : plan.items)
      std::cout << "would replay id=" << it.id << " event_id=" << it.event_id << " reason=" << it.reason
                << " as=" << it.replay_event_id.value_or("") << " topic=" << it.topic.value_or("") << "\n";
    return 0;
  }
  std::cerr << "dlq replay: replaying " << plan.items.size() << " dead letter(s)\n";
  Producer producer(cfg.kafka.brokers, bounded_props(cfg, t.timeout, t.explicit_timeout));
  auto reader = open_store(cfg.database.url);  // reads the current aggregate while `store` holds the row
  const dlq::Publish publish = [&](const OutMessage& m) {
    const auto ds = producer.send({m}, t.timeout);
    if (ds.empty()) throw KafkaError("no delivery report");
    if (ds[0].error) throw KafkaError(ds[0].error.str());
    return ds[0];
  };
  std::size_t done = 0, lost = 0;
  dlq::replay(store, *reader, sel, r, publish, [&](const dlq::ItemResult& it) {
    if (r.mode == dlq::VersionMode::keep && it.reason == "version_conflict")
      std::cerr << "dlq replay: dead letter " << it.id
                << " is a version_conflict replayed unchanged: it conflicts again unless the aggregate is back at "
                   "its expected version (--rebase or --no-version-check change that)\n";
    if (it.status == "lost") {
      ++lost;
      std::cerr << "dlq replay: dead letter " << it.id << " was resolved by someone else meanwhile: skipped\n";
      return;
    }
    ++done;
    std::cout << "replayed id=" << it.id << " event_id=" << it.event_id << " as=" << it.replay_event_id.value_or("")
              << " topic=" << it.topic.value_or("") << " partition=" << it.partition.value_or(-1)
              << " offset=" << it.offset.value_or(-1) << std::endl;
  });
  std::cerr << "dlq replay: " << done << " replayed" << (lost ? ", " + std::to_string(lost) + " skipped" : "")
            << "\n";
  return 0;
}

int discard(DeadLetterAdmin& store, const dlq::Selection& sel, const std::string& by, const std::string& note,
            bool dry_run) {
  const auto plan = dlq::discard(store, sel, by, note, true);
  if (plan.items.empty()) return nothing_to_do();
  if (dry_run) {
    std::cout << "dry run: would discard " << plan.items.size() << " dead letter(s); nothing changed\n";
    for (const auto& it : plan.items)
      std::cout << "would discard id=" << it.id << " event_id=" << it.event_id << " reason=" << it.reason << "\n";
    return 0;
  }
  std::cerr << "dlq discard: discarding " << plan.items.size() << " dead letter(s)\n";
  std::size_t done = 0, lost = 0;
  dlq::discard(store, sel, by, note, false, [&](const dlq::ItemResult& it) {
    if (it.status == "lost") {
      ++lost;
      std::cerr << "dlq discard: dead letter " << it.id << " was resolved by someone else meanwhile: skipped\n";
      return;
    }
    ++done;
    std::cout << "discarded id=" << it.id << " event_id=" << it.event_id << std::endl;
  });
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
