// `lockstep dlq`: operators inspect, replay, discard and drain dead letters.
#include <limits.h>

#include <algorithm>
#include <utility>

#include "dlq_ops.hpp"

namespace lockstep::cli {
namespace {

constexpr const char* kFooter =
    "TIME (--since, --until): RFC 3339 (2026-11-23T10:00:00Z), a date (2026-11-23) or an age (90s, 15m, 2h, 7d)";

// Every flag of every dlq operation; each operation registers those it takes.
struct DlqOptions {
  Connection conn;
  std::optional<std::string> status, reason, aggregate_type, aggregate_id, since, until;  // filters
  std::optional<std::string> note, by, topic;
  std::vector<std::string> ids;
  std::optional<int> limit;
  bool json = false, rebase = false, no_version_check = false, dry_run = false, all = false;
};

DeadLetterAdmin::DeadLetterFilter parse_filters(const DlqOptions& o) {
  return dlq::parse_filter({o.status, o.reason, o.aggregate_type, o.aggregate_id, o.since, o.until},
                           std::chrono::system_clock::now());
}

// IDs as positionals, or --all, or filters (the operations refuse any other mix).
dlq::Selection parse_targets(const DlqOptions& o, DeadLetterAdmin::DeadLetterFilter filter) {
  dlq::Selection sel;
  sel.filter = std::move(filter);
  sel.by_filter = o.all || dlq::has_filter(sel.filter);
  for (const auto& s : o.ids) sel.ids.push_back(parse_int("ID", s, 1, INT_MAX));
  return sel;
}

// The operations name inputs in backquotes (`since`); here they are flags (--since).
std::string in_flags(std::string msg) {
  static const std::pair<std::string, std::string> kPhrases[] = {
      {"takes `ids` or a filter, not both", "takes IDs or --all/filters, not both"},
      {"needs `ids` or a filter", "needs dead-letter IDs, --all, or filters such as --reason R"},
      {"needs `note`:", "needs --note TEXT:"}};
  for (const auto& [from, to] : kPhrases)
    if (const auto p = msg.find(from); p != std::string::npos) msg.replace(p, from.size(), to);
  for (std::size_t p = 0; (p = msg.find('`', p)) != std::string::npos;) {
    const auto e = msg.find('`', p + 1);
    if (e == std::string::npos) break;
    std::string name = msg.substr(p + 1, e - p - 1);
    if (name.empty() || name.find_first_not_of("abcdefghijklmnopqrstuvwxyz_") != std::string::npos) {
      p = e;
      continue;
    }
    std::replace(name.begin(), name.end(), '_', '-');
    msg.replace(p, e - p + 1, "--" + name);
    p += name.size() + 2;
  }
  return msg;
}

// What the operations refuse is a usage error here (exit 2).
int refused_as_usage(const std::function<int()>& f) {
  try {
    return f();
  } catch (const dlq::InvalidInput& e) {
    throw UsageError(in_flags(e.what()));
  } catch (const dlq::NotFound& e) {
    throw UsageError(e.what());
  } catch (const dlq::Conflict& e) {
    throw UsageError(e.what());
  }
}

void add_filters(CLI::App* sub, DlqOptions& o) {
  add_string(sub, "--status", o.status, "open, replayed or discarded")->type_name("S");
  add_string(sub, "--reason", o.reason, "malformed, unknown_transition, version_conflict, invalid_transition or "
                                        "retries_exhausted")->type_name("R");
  add_string(sub, "--aggregate-type", o.aggregate_type, "only this aggregate type")->type_name("T");
  add_string(sub, "--aggregate-id", o.aggregate_id, "only this aggregate (with --aggregate-type)")->type_name("I");
  add_string(sub, "--since", o.since, "dead-lettered at or after TIME")->type_name("TIME");
  add_string(sub, "--until", o.until, "dead-lettered before TIME")->type_name("TIME");
}

// Replay and discard: IDs, --all or filters; --by, --note, --dry-run.
void add_targets(CLI::App* sub, DlqOptions& o, const std::string& note_help) {
  sub->add_option("ID", o.ids, "dead-letter IDs (or --all, or filters)");
  sub->add_flag("--all", o.all, "every open dead letter (that the filters match)");
  add_filters(sub, o);
  add_string(sub, "--note", o.note, note_help)->type_name("TEXT");
  add_string(sub, "--by", o.by, "who acts (default $LOCKSTEP_OPERATOR, else user@host)")->type_name("NAME");
  sub->add_flag("--dry-run", o.dry_run, "say what would be done, change nothing");
}

// A dlq operation: its own options, the connection flags, and what it runs.
CLI::App* operation(CLI::App* dlq, const std::string& name, const std::string& help, Action& action,
                    const std::function<int(DlqOptions&)>& run, const std::shared_ptr<DlqOptions>& o) {
  auto* sub = dlq->add_subcommand(name, help);
  add_connection_flags(sub, o->conn);
  sub->callback([&action, o, run] { action = [o, run] { return refused_as_usage([&] { return run(*o); }); }; });
  return sub;
}

int run_list(DlqOptions& o) {
  auto filter = parse_filters(o);
  filter.limit = static_cast<std::size_t>(o.limit.value_or(100));
  auto store = open_store(load(o.conn).database.url);
  return cli::list(*store, filter, o.json);
}

int run_show(DlqOptions& o) {
  const int64_t id = parse_int("ID", o.ids.at(0), 1, INT_MAX);
  auto store = open_store(load(o.conn).database.url);
  return cli::show(*store, *store, id);
}

int run_replay(DlqOptions& o) {
  auto filter = parse_filters(o);
  if (o.rebase && o.no_version_check) throw UsageError("--rebase and --no-version-check exclude each other");
  const auto sel = parse_targets(o, std::move(filter));
  dlq::ReplayRequest r;
  r.mode = o.rebase ? dlq::VersionMode::rebase : o.no_version_check ? dlq::VersionMode::drop : dlq::VersionMode::keep;
  r.by = operator_name(o.by);
  r.note = o.note;
  r.topic = o.topic;
  r.dry_run = o.dry_run;
  dlq::check_replay(sel, r);  // before connecting
  const Config cfg = load(o.conn);
  auto store = open_store(cfg.database.url);
  return cli::replay(cfg, *store, sel, r, {timeout_of(o.conn, 30000), o.conn.timeout_ms.has_value()});
}

int run_discard(DlqOptions& o) {
  const auto sel = parse_targets(o, parse_filters(o));
  const auto by = operator_name(o.by);
  dlq::check_discard(sel, by, o.note.value_or(""));  // before connecting
  auto store = open_store(load(o.conn).database.url);
  return cli::discard(*store, sel, by, *o.note, o.dry_run);
}

int run_drain(DlqOptions& o) {
  if (o.topic && !is_valid_topic_name(*o.topic)) throw UsageError("--topic: not a valid topic name (\"" + *o.topic + "\")");
  const Config cfg = load(o.conn);
  auto store = open_store(cfg.database.url);
  return drain(cfg, *store, o.topic.value_or(cfg.kafka.dead_letter_topic), timeout_of(o.conn, 60000));
}

}  // namespace

void add_dlq(CLI::App& app, Action& action) {
  auto* dlq = app.add_subcommand("dlq", "dead letters: list|show ID|replay ID...|discard ID... --note TEXT|drain");
  dlq->require_subcommand(1);
  dlq->footer(kFooter);
  auto o = std::make_shared<DlqOptions>();
  auto* list_cmd = operation(dlq, "list", "the dead letters, in id order, filtered", action, run_list, o);
  add_filters(list_cmd, *o);
  list_cmd->add_option_function<int>("--limit", [o](const int& n) { o->limit = n; }, "at most N rows (default 100)")
      ->type_name("N")
      ->check(CLI::Range(1, 1000000));
  list_cmd->add_flag("--json", o->json, "as a JSON array");
  add_timeout_flag(list_cmd, o->conn, 5000, "connecting to the database");

  o = std::make_shared<DlqOptions>();
  auto* show_cmd = operation(dlq, "show", "one dead letter as JSON, with the outcome of its replay", action, run_show, o);
  show_cmd->add_option("ID", o->ids, "the dead letter's id")->required()->expected(1);
  add_timeout_flag(show_cmd, o->conn, 5000, "connecting to the database");

  o = std::make_shared<DlqOptions>();
  auto* replay_cmd = operation(dlq, "replay", "publish open dead letters again, under a new event_id", action, run_replay, o);
  add_targets(replay_cmd, *o, "why (recorded with who and when)");
  replay_cmd->add_flag("--rebase", o->rebase, "version_conflict: expect the aggregate's current version");
  replay_cmd->add_flag("--no-version-check", o->no_version_check, "version_conflict: drop expected_version");
  add_string(replay_cmd, "--topic", o->topic, "publish to T (default: the topic it came from)")->type_name("T");
  add_timeout_flag(replay_cmd, o->conn, 30000, "publishing each replay");

  o = std::make_shared<DlqOptions>();
  auto* discard_cmd = operation(dlq, "discard", "close open dead letters without replaying them", action, run_discard, o);
  add_targets(discard_cmd, *o, "why (required; recorded with who and when)");
  add_timeout_flag(discard_cmd, o->conn, 5000, "connecting to the database");

  o = std::make_shared<DlqOptions>();
  auto* drain_cmd = operation(dlq, "drain", "import the dead-letter topic into this database (idempotent)", action,
                              run_drain, o);
  add_string(drain_cmd, "--topic", o->topic, "read T (default kafka.dead_letter_topic)")->type_name("T");
  add_timeout_flag(drain_cmd, o->conn, 60000, "reading the topic");
}

}  // namespace lockstep::cli
