// Dead-letter operations (dlq_ops.hpp): filters and requests checked, the dead
// letters a selection names, and a dead letter as operators see it.
#include "lockstep/dlq_ops.hpp"

#include <set>
#include <tuple>

#include "lockstep/config.hpp"
#include "ops_internal.hpp"

namespace lockstep::dlq {

InvalidInput::InvalidInput(std::string field, const std::string& msg)
    : std::runtime_error(msg), field_(std::move(field)) {}

const std::string& InvalidInput::field() const { return field_; }

void check_text(const std::string& field, const std::string& value) {
  if (value.find('\0') != std::string::npos)
    throw InvalidInput(field, "`" + field + "` must not contain a NUL character");
  try {
    (void)Json(value).dump();  // nlohmann/json's UTF-8 check
  } catch (const Json::type_error&) {
    throw InvalidInput(field, "`" + field + "` is not valid UTF-8");
  }
}

DeadLetterAdmin::DeadLetterFilter parse_filter(const FilterText& t, std::chrono::system_clock::time_point now) {
  for (auto [field, value] : {std::pair{"status", &t.status}, std::pair{"reason", &t.reason},
                              std::pair{"aggregate_type", &t.aggregate_type}, std::pair{"aggregate_id", &t.aggregate_id},
                              std::pair{"since", &t.since}, std::pair{"until", &t.until}})
    if (*value) check_text(field, **value);
  DeadLetterAdmin::DeadLetterFilter f;
  f.status = t.status;
  f.reason = t.reason;
  f.aggregate_type = t.aggregate_type;
  f.aggregate_id = t.aggregate_id;
  for (auto [field, slot, given] : {std::tuple{"since", &f.since, &t.since}, std::tuple{"until", &f.until, &t.until}}) {
    if (const auto& text = *given) {
      *slot = parse_time(*text, now);
      if (!*slot)
        throw InvalidInput(field, "`" + std::string(field) +
                                      "` must be an RFC 3339 time (2026-11-23T10:00:00Z), a date (2026-11-23) "
                                      "or an age (90s, 15m, 2h, 7d) (got \"" + *text + "\")");
    }
  }
  if (f.status && *f.status != "open" && *f.status != "replayed" && *f.status != "discarded")
    throw InvalidInput("status", "`status` must be open, replayed or discarded (got \"" + *f.status + "\")");
  if (f.reason && !dead_reason_from_string(*f.reason))
    throw InvalidInput("reason", "`reason` must be one of malformed, unknown_transition, version_conflict, "
                                 "invalid_transition, retries_exhausted (got \"" + *f.reason + "\")");
  if (f.aggregate_id && !f.aggregate_type)
    throw InvalidInput("aggregate_id", "`aggregate_id` goes with `aggregate_type`");
  return f;
}

bool has_filter(const DeadLetterAdmin::DeadLetterFilter& f) {
  return f.status || f.reason || f.aggregate_type || f.aggregate_id || f.since || f.until;
}

namespace {

// What replay and discard both ask of a selection.
void check_selection(const Selection& s, const std::string& what) {
  if (!s.ids.empty() && s.by_filter) throw InvalidInput("ids", what + " takes `ids` or a filter, not both");
  if (s.ids.empty() && !s.by_filter) throw InvalidInput("ids", what + " needs `ids` or a filter");
  if (s.by_filter && s.filter.status && *s.filter.status != "open")
    throw InvalidInput("status", what + " acts on open dead letters only (`status` " + *s.filter.status + ")");
  for (const auto id : s.ids)
    if (id < 1) throw InvalidInput("ids", "`ids`: a dead-letter id is a positive integer (got " + std::to_string(id) + ")");
}

void check_by(const std::string& by) {
  if (by.empty()) throw InvalidInput("by", "`by` must not be empty");
}

std::string describe_resolution(const DeadLetterRecord& d) {
  std::string s = d.status;
  if (d.resolved_by) s += " by " + *d.resolved_by;
  if (d.resolved_at) s += " at " + *d.resolved_at;
  return s;
}

Json opt_json(const std::optional<std::string>& s) { return s ? Json(*s) : Json(nullptr); }

}  // namespace

void check_replay(const Selection& s, const ReplayRequest& r) {
  check_selection(s, "replay");
  if (r.note) check_text("note", *r.note);
  if (r.topic) check_text("topic", *r.topic);
  if (r.mode != VersionMode::keep && s.ids.empty() && (!s.filter.reason || *s.filter.reason != "version_conflict"))
    throw InvalidInput("mode", std::string(r.mode == VersionMode::rebase ? "`rebase`" : "`no_version_check`") +
                                   " applies to version_conflict dead letters only: add `reason` version_conflict");
  if (r.note && r.note->empty()) throw InvalidInput("note", "`note` must not be empty");
  check_by(r.by);
  if (r.topic && !is_valid_topic_name(*r.topic))
    throw InvalidInput("topic", "`topic`: not a valid topic name (\"" + *r.topic + "\")");
}

void check_discard(const Selection& s, const std::string& by, const std::string& note) {
  check_selection(s, "discard");
  check_text("note", note);
  if (note.find_first_not_of(" \t\r\n") == std::string::npos)
    throw InvalidInput("note", "discard needs `note`: say why (it is recorded with who and when)");
  check_by(by);
}

std::vector<DeadLetterRecord> select_targets(DeadLetterAdmin& admin, const Selection& s, const std::string& what,
                                             const Refusal& refusal, std::size_t& skipped) {
  std::vector<DeadLetterRecord> out;
  if (!s.by_filter) {
    std::set<int64_t> seen;
    for (const auto id : s.ids) {
      if (!seen.insert(id).second) continue;
      auto d = admin.get_dead_letter(id);
      if (!d) throw NotFound("no dead letter with id " + std::to_string(id));
      const std::string cannot = "cannot " + what + " dead letter " + std::to_string(id) + ": ";
      if (d->status != "open") throw Conflict(cannot + "it is already " + describe_resolution(*d));
      if (auto why = refusal(*d)) throw Conflict(cannot + *why);
      out.push_back(std::move(*d));
    }
    return out;
  }
  auto f = s.filter;
  f.status = "open";
  f.after_id.reset();
  f.limit = 1000;
  for (;;) {
    auto page = admin.list_dead_letters(f);
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

Json dead_letter_json(const DeadLetterRecord& d) {
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

// A replayed dead letter shows what became of its replay: the outcome of the
// replay's event_id, from `outcomes`.
Json show(DeadLetterAdmin& admin, OutcomeStore& outcomes, int64_t id) {
  auto d = admin.get_dead_letter(id);
  if (!d) throw NotFound("no dead letter with id " + std::to_string(id));
  Json j = dead_letter_json(*d);
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
  return j;
}

}  // namespace lockstep::dlq
