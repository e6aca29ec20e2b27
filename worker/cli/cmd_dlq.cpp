// `lockstep dlq`: operators inspect, replay, discard and drain dead letters (contract §7).
#include <limits.h>
#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <iomanip>
#include <iostream>

#include "cli.hpp"
#include "lockstep/dlq.hpp"
#include "lockstep/kafka.hpp"
#include "lockstep/store.hpp"

namespace lockstep::cli {
namespace {

constexpr const char* kUsage =
    "usage: lockstep dlq list [FILTERS] [--limit N] [--json]\n"
    "       lockstep dlq show ID\n"
    "       lockstep dlq replay ID...|--all|FILTERS [--rebase|--no-version-check] [--note TEXT] [--by NAME]"
    " [--topic T] [--dry-run]\n"
    "       lockstep dlq discard ID...|--all|FILTERS --note TEXT [--by NAME] [--dry-run]\n"
    "       lockstep dlq drain [--topic T] [--timeout-ms N]\n"
    "FILTERS: --status S --reason R --aggregate-type T --aggregate-id I --since TIME --until TIME\n"
    "TIME: RFC 3339 (2026-11-23T10:00:00Z), a date (2026-11-23) or an age (90s, 15m, 2h, 7d)";

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

std::string describe_resolution(const DeadLetterRecord& d) {
  std::string s = d.status;
  if (d.resolved_by) s += " by " + *d.resolved_by;
  if (d.resolved_at) s += " at " + *d.resolved_at;
  return s;
}

struct Selection {
  std::vector<int64_t> ids;     // explicit IDs, or
  bool all = false;             // every matching row (filters below)
  DeadLetterAdmin::DeadLetterFilter filter;
  bool has_filter = false;
};

Selection parse_filters(Args& args) {
  Selection sel;
  auto& f = sel.filter;
  f.status = args.option("--status");
  f.reason = args.option("--reason");
  f.aggregate_type = args.option("--aggregate-type");
  f.aggregate_id = args.option("--aggregate-id");
  const auto now = std::chrono::system_clock::now();
  for (auto [flag, slot] : {std::pair{"--since", &f.since}, std::pair{"--until", &f.until}}) {
    if (auto t = args.option(flag)) {
      *slot = dlq::parse_time(*t, now);
      if (!*slot)
        throw UsageError(std::string(flag) + " must be an RFC 3339 time (2026-11-23T10:00:00Z), a date (2026-11-23) "
                                             "or an age (90s, 15m, 2h, 7d) (got \"" + *t + "\")");
    }
  }
  if (f.status && *f.status != "open" && *f.status != "replayed" && *f.status != "discarded")
    throw UsageError("--status must be open, replayed or discarded (got \"" + *f.status + "\")");
  if (f.reason && !dead_reason_from_string(*f.reason))
    throw UsageError("--reason must be one of malformed, unknown_transition, version_conflict, invalid_transition, "
                     "retries_exhausted (got \"" + *f.reason + "\")");
  if (f.aggregate_id && !f.aggregate_type) throw UsageError("--aggregate-id goes with --aggregate-type");
  sel.has_filter = f.status || f.reason || f.aggregate_type || f.since || f.until;
  return sel;
}

// IDs as positionals, or --all, or filters: exactly one way.
void parse_targets(Selection& sel, const std::vector<std::string>& ids, const std::string& what) {
  if (!ids.empty() && (sel.all || sel.has_filter))
    throw UsageError(what + " takes IDs or --all/filters, not both");
  if (ids.empty() && !sel.all && !sel.has_filter)
    throw UsageError(what + " needs dead-letter IDs, --all, or filters such as --reason R");
  if (sel.filter.status && *sel.filter.status != "open")
    throw UsageError(what + " acts on open dead letters only (--status " + *sel.filter.status + ")");
  for (const auto& s : ids) sel.ids.push_back(parse_int("ID", s, 1, INT_MAX));
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

int replay(const Config& cfg, DeadLetterAdmin& store, Selection& sel, dlq::VersionMode mode, const std::string& by,
           const std::optional<std::string>& note, const std::optional<std::string>& topic, bool dry_run) {
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
  if (dry_run) {
    for (const auto& d : targets)
      std::cout << "would replay id=" << d.id << " event_id=" << d.event_id << " reason=" << d.reason
                << " as=" << dlq::replay_event_id(d.event_id, d.id) << " topic=" << topic.value_or(d.src.topic)
                << "\n";
    return 0;
  }
  if (targets.empty()) {
    std::cerr << "dlq replay: nothing to replay\n";
    return 0;
  }
  Producer producer(cfg.kafka.brokers, cfg.kafka.properties);
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
      const auto ds = producer.send({msg}, std::chrono::milliseconds(30000));
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

}  // namespace

int cmd_dlq(Args& args) {
  auto sel = parse_filters(args);
  std::optional<std::size_t> limit;
  if (auto l = args.option("--limit")) limit = static_cast<std::size_t>(parse_int("--limit", *l, 1, 1000000));
  const bool json = args.flag("--json");
  const bool rebase = args.flag("--rebase");
  const bool no_version_check = args.flag("--no-version-check");
  const bool dry_run = args.flag("--dry-run");
  sel.all = args.flag("--all");
  auto note = args.option("--note");
  auto by = args.option("--by");
  auto topic = args.option("--topic");
  std::optional<std::chrono::milliseconds> timeout;
  if (auto t = args.option("--timeout-ms")) timeout = std::chrono::milliseconds(parse_int("--timeout-ms", *t, 1, 3600000));
  Config cfg = load(args);
  auto pos = args.positionals();
  if (pos.empty()) throw UsageError(std::string("which operation?\n") + kUsage);
  const std::string what = pos[0];
  const std::vector<std::string> rest(pos.begin() + 1, pos.end());

  auto only = [&](const std::string& op, std::initializer_list<std::pair<const char*, bool>> given) {
    for (const auto& [name, is_set] : given)
      if (is_set) throw UsageError(std::string(name) + " does not apply to dlq " + op);
  };
  if (by && by->empty()) throw UsageError("--by must not be empty");
  if (topic && !is_valid_topic_name(*topic)) throw UsageError("--topic: not a valid topic name (\"" + *topic + "\")");

  if (what == "list") {
    only("list", {{"--all", sel.all}, {"--rebase", rebase}, {"--no-version-check", no_version_check}, {"--dry-run", dry_run},
                  {"--note", note.has_value()}, {"--by", by.has_value()}, {"--topic", topic.has_value()},
                  {"--timeout-ms", timeout.has_value()}});
    if (!rest.empty()) throw UsageError("list takes no arguments (filters are options: --reason R ...)");
    sel.filter.limit = limit.value_or(100);
    auto store = open_store(cfg.database.url);
    return list(*store, sel, json);
  }
  if (what == "show") {
    only("show", {{"--all", sel.all}, {"--rebase", rebase}, {"--no-version-check", no_version_check}, {"--dry-run", dry_run},
                  {"--note", note.has_value()}, {"--by", by.has_value()}, {"--topic", topic.has_value()},
                  {"--timeout-ms", timeout.has_value()}, {"--limit", limit.has_value()}, {"filters", sel.has_filter}});
    if (rest.size() != 1) throw UsageError("usage: lockstep dlq show ID");
    const int64_t id = parse_int("ID", rest[0], 1, INT_MAX);
    auto store = open_store(cfg.database.url);
    return show(*store, *store, id);
  }
  if (what == "replay") {
    only("replay", {{"--json", json}, {"--limit", limit.has_value()}, {"--timeout-ms", timeout.has_value()}});
    if (rebase && no_version_check) throw UsageError("--rebase and --no-version-check exclude each other");
    const auto mode = rebase ? dlq::VersionMode::rebase
                             : no_version_check ? dlq::VersionMode::drop : dlq::VersionMode::keep;
    parse_targets(sel, rest, "replay");
    if (mode != dlq::VersionMode::keep && sel.ids.empty() &&
        (!sel.filter.reason || *sel.filter.reason != "version_conflict"))
      throw UsageError(std::string(rebase ? "--rebase" : "--no-version-check") +
                       " applies to version_conflict dead letters only: add --reason version_conflict");
    if (note && note->empty()) throw UsageError("--note must not be empty");
    auto store = open_store(cfg.database.url);
    return replay(cfg, *store, sel, mode, operator_name(by), note, topic, dry_run);
  }
  if (what == "discard") {
    only("discard", {{"--json", json}, {"--limit", limit.has_value()}, {"--timeout-ms", timeout.has_value()},
                     {"--rebase", rebase}, {"--no-version-check", no_version_check}, {"--topic", topic.has_value()}});
    parse_targets(sel, rest, "discard");
    if (!note || note->find_first_not_of(" \t\r\n") == std::string::npos)
      throw UsageError("discard needs --note TEXT: say why (it is recorded with who and when)");
    auto store = open_store(cfg.database.url);
    return discard(*store, sel, operator_name(by), *note, dry_run);
  }
  if (what == "drain") {
    only("drain", {{"--all", sel.all}, {"--json", json}, {"--limit", limit.has_value()}, {"--rebase", rebase},
                   {"--no-version-check", no_version_check}, {"--dry-run", dry_run}, {"--note", note.has_value()},
                   {"--by", by.has_value()}, {"filters", sel.has_filter || sel.filter.aggregate_id.has_value()}});
    if (!rest.empty()) throw UsageError("drain takes no arguments");
    auto store = open_store(cfg.database.url);
    return drain(cfg, *store, topic.value_or(cfg.kafka.dead_letter_topic), timeout.value_or(std::chrono::seconds(60)));
  }
  throw UsageError("unknown dlq operation '" + what + "'\n" + kUsage);
}

}  // namespace lockstep::cli
