#include "apply/engine.hpp"

#include <spdlog/spdlog.h>

#include <unordered_set>

namespace lockstep {

const char* to_string(Outcome o) {
  switch (o) {
    case Outcome::applied: return "applied";
    case Outcome::duplicate: return "duplicate";
    case Outcome::dead_lettered: return "dead_lettered";
    case Outcome::retry: return "retry";
  }
  return "?";
}

std::string idempotency_key(const Work& w) { return idempotency_key_for(w.parsed, w.src, w.value, w.kafka_key); }

Engine::Engine(const Config& cfg, Metrics* metrics, uint64_t seed)
    : cfg_(cfg),
      metrics_(metrics),
      backoff_(std::chrono::milliseconds(cfg.retry.base_delay_ms), std::chrono::milliseconds(cfg.retry.max_delay_ms)),
      rng_(seed) {}

namespace {

std::string where(const Work& w) {
  return w.src.topic + "/" + std::to_string(w.src.partition) + "@" + std::to_string(w.src.offset);
}

Json conflict_of(const Event* e, const Snapshot& s) {
  Json c = {{"expected_version", e && e->expected_version ? Json(*e->expected_version) : Json(s.version)},
            {"actual_version", s.version},
            {"expected_state", e && e->expected_state ? Json(*e->expected_state) : Json(nullptr)},
            {"actual_state", s.state},
            {"updated_at", s.updated_at},
            {"updated_by", s.updated_by.empty() ? Json(nullptr) : Json(s.updated_by)}};
  return c;
}

DeadLetterWrite base_dead_letter(const Work& w, const std::string& id, DeadReason reason, std::string detail,
                                 const std::string& group) {
  DeadLetterWrite d;
  d.event_id = id;
  d.reason = reason;
  d.detail = std::move(detail);
  d.raw = w.value;
  d.kafka_key = w.kafka_key;
  d.headers = w.headers;
  d.src = w.src;
  d.consumer_group = group;
  d.attempts = w.attempts;
  if (const auto* e = w.event()) {
    d.aggregate_type = e->aggregate_type;
    d.aggregate_id = e->aggregate_id;
    d.event = Json::parse(w.value, nullptr, false);
    if (d.event->is_discarded()) d.event.reset();
  }
  return d;
}

// The compare-and-set write of event `e` as decided (`ap`).
AppliedWrite applied_write(const Event& e, Apply& ap, const SourceRef& src) {
  AppliedWrite a;
  a.event_id = e.event_id;
  a.aggregate_type = e.aggregate_type;
  a.aggregate_id = e.aggregate_id;
  a.transition = e.transition;
  a.from_state = ap.from_state;
  a.to_state = ap.to_state;
  a.read_version = ap.read_version;
  a.new_data = std::move(ap.new_data);
  a.actor = e.actor;
  a.occurred_at = e.occurred_at;
  a.src = src;
  return a;
}

}  // namespace

std::vector<ItemResult> Engine::process(OutcomeStore& store, std::vector<WorkPtr>& batch) {
  try {
    return process_once(store, batch);
  } catch (const DataStoreError& e) {
    if (batch.size() > 1) {
      // Find the event the database rejects: run each alone; the rest proceed.
      std::vector<ItemResult> out;
      out.reserve(batch.size());
      for (auto& w : batch) {
        std::vector<WorkPtr> one;
        one.push_back(std::move(w));
        // The event goes back into the batch on every path, also when the
        // re-run throws (a database blip): the caller keeps and retries it.
        struct GiveBack {
          WorkPtr& slot;
          std::vector<WorkPtr>& one;
          ~GiveBack() {
            if (!one.empty() && one.front()) slot = std::move(one.front());
          }
        } give_back{w, one};
        out.push_back(process(store, one).front());
      }
      return out;
    }
    // A single event the database cannot store: dead-letter its raw bytes.
    auto& w = *batch.front();
    spdlog::error("{}: database rejected event {}: {}", where(w), idempotency_key(w), e.what());
    auto d = base_dead_letter(w, idempotency_key(w), DeadReason::malformed,
                              std::string("database rejected the event: ") + e.what(), cfg_.kafka.group_id);
    d.event.reset();
    auto res = store.commit({}, {d});
    std::vector<ItemResult> out(1);
    out[0].outcome = res.dead.front() == WriteStatus::written ? Outcome::dead_lettered : Outcome::duplicate;
    if (out[0].outcome == Outcome::dead_lettered) out[0].reason = DeadReason::malformed;
    fill_first_outcomes(store, batch, out);
    return out;
  }
}

// What one pass knows of its batch (index i = batch[i]) and what it decided.
struct Engine::PassState {
  // The same event_id twice in one batch (a producer reusing ids on two keys):
  // only the first goes now; the others come back and meet its outcome.
  explicit PassState(const std::vector<WorkPtr>& batch)
      : out(batch.size()), ids(batch.size()), open(batch.size(), true) {
    std::unordered_set<std::string> seen;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      ids[i] = idempotency_key(*batch[i]);
      if (!seen.insert(ids[i]).second) open[i] = false;  // its result stays the default: retry
    }
  }
  std::vector<ItemResult> out;
  std::vector<std::string> ids;
  std::vector<bool> open;  // still needs an outcome in this pass
  // The aggregates to read, and the writes of the one commit, each with the
  // batch index it answers.
  std::vector<AggregateRef> refs;
  std::vector<std::size_t> ref_of;
  std::vector<AppliedWrite> applied;
  std::vector<std::size_t> applied_of;
  std::vector<DeadLetterWrite> dead;
  std::vector<std::size_t> dead_of;
};

std::vector<ItemResult> Engine::process_once(OutcomeStore& store, std::vector<WorkPtr>& batch) {
  PassState pass(batch);
  // 1. Duplicates: the event_id already has an outcome.
  find_duplicates(store, pass);
  // 2. Decide. Malformed and unknown transitions need no read; the rest are
  //    decided against their aggregates as just read.
  decide_without_read(batch, pass);
  const auto snaps = store.read(pass.refs);
  for (std::size_t k = 0; k < pass.refs.size(); ++k) {
    const std::size_t i = pass.ref_of[k];
    decide_against_row(*batch[i], i, snaps[k], pass);
  }
  // 3. One transaction for everything decided.
  const auto res = store.commit(pass.applied, pass.dead);
  record_commit(batch, res, pass);
  fill_first_outcomes(store, batch, pass.out);
  return std::move(pass.out);
}

void Engine::find_duplicates(OutcomeStore& store, PassState& pass) {
  const std::size_t n = pass.ids.size();
  std::vector<std::string> lookup;
  for (std::size_t i = 0; i < n; ++i)
    if (pass.open[i]) lookup.push_back(pass.ids[i]);
  const auto prior = store.find_outcomes(lookup);
  for (std::size_t i = 0; i < n; ++i) {
    if (!pass.open[i]) continue;
    auto it = prior.find(pass.ids[i]);
    if (it == prior.end()) continue;
    auto& r = pass.out[i];
    r.outcome = Outcome::duplicate;
    r.version = it->second.version;
    r.state = it->second.state;
    r.first = it->second;
    pass.open[i] = false;
  }
}

void Engine::decide_without_read(const std::vector<WorkPtr>& batch, PassState& pass) const {
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (!pass.open[i]) continue;
    const Work& w = *batch[i];
    if (const auto* m = std::get_if<Malformed>(&w.parsed)) {
      pass.dead.push_back(base_dead_letter(w, pass.ids[i], DeadReason::malformed, m->detail, cfg_.kafka.group_id));
      pass.dead_of.push_back(i);
      continue;
    }
    const Event& e = *w.event();
    auto mit = cfg_.machines.find(e.aggregate_type);
    if (mit == cfg_.machines.end() || !mit->second.transitions.count(e.transition)) {
      const std::string detail = mit == cfg_.machines.end()
                                     ? "unknown aggregate_type '" + e.aggregate_type + "'"
                                     : "unknown transition '" + e.transition + "' of '" + e.aggregate_type + "'";
      pass.dead.push_back(
          base_dead_letter(w, pass.ids[i], DeadReason::unknown_transition, detail, cfg_.kafka.group_id));
      pass.dead_of.push_back(i);
      continue;
    }
    pass.refs.push_back({e.aggregate_type, e.aggregate_id});
    pass.ref_of.push_back(i);
  }
}

// Event i (`w`) against the row `s` just read: a compare-and-set write, or a
// dead letter that carries what the row held.
void Engine::decide_against_row(Work& w, std::size_t i, const Snapshot& s, PassState& pass) const {
  const Event& e = *w.event();
  if (w.attempts > 0) {
    spdlog::warn("{}: CAS conflict on {}:{}: expected version {}, actual version {} (actor {}, source {}, attempt {})",
                 where(w), e.aggregate_type, e.aggregate_id, w.last_read_version, s.version, e.actor.value_or("-"),
                 w.src.source, w.attempts);
  }
  w.last_read_version = s.version;
  auto dead_letter_against_row = [&](DeadReason reason, std::string detail) {
    auto d = base_dead_letter(w, pass.ids[i], reason, std::move(detail), cfg_.kafka.group_id);
    if (s.exists) {
      d.conflict = conflict_of(&e, s);
      d.state = s.state;
    }
    d.version = s.version;
    pass.dead.push_back(std::move(d));
    pass.dead_of.push_back(i);
  };
  if (w.exhausted) {
    dead_letter_against_row(DeadReason::retries_exhausted, "compare-and-set lost to concurrent writers on all " +
                                                               std::to_string(w.attempts) + " attempts");
    return;
  }
  auto decision = decide(cfg_.machines, e, s);
  if (auto* rej = std::get_if<Reject>(&decision)) {
    if (rej->reason == DeadReason::version_conflict) {
      spdlog::warn("{}: version conflict on {}:{}: expected version {}, actual version {} (actor {}, source {})",
                   where(w), e.aggregate_type, e.aggregate_id, e.expected_version.value_or(0), s.version,
                   e.actor.value_or("-"), w.src.source);
      if (metrics_) metrics_->cas_conflict(e.aggregate_type);
    }
    dead_letter_against_row(rej->reason, rej->detail);
    return;
  }
  pass.applied.push_back(applied_write(e, std::get<Apply>(decision), w.src));
  pass.applied_of.push_back(i);
}

// The commit's status of each write becomes its event's result; a lost
// compare-and-set is a retry after a backoff, or once attempts run out, a
// re-read that dead-letters it.
void Engine::record_commit(std::vector<WorkPtr>& batch, const CommitResult& res, PassState& pass) {
  for (std::size_t k = 0; k < pass.applied.size(); ++k) {
    const auto& a = pass.applied[k];
    Work& w = *batch[pass.applied_of[k]];
    auto& r = pass.out[pass.applied_of[k]];
    switch (res.applied[k]) {
      case WriteStatus::written:
        r.outcome = Outcome::applied;
        r.version = a.read_version + 1;
        r.state = a.to_state;
        break;
      case WriteStatus::duplicate:
        r.outcome = Outcome::duplicate;
        break;
      case WriteStatus::cas_lost: {
        ++w.attempts;
        if (metrics_) metrics_->cas_conflict(a.aggregate_type);
        r.outcome = Outcome::retry;
        if (w.attempts >= cfg_.retry.max_attempts) {
          w.exhausted = true;  // next pass re-reads and dead-letters with the conflict
          r.delay = std::chrono::milliseconds(0);
        } else {
          if (metrics_) metrics_->cas_retry();
          r.delay = backoff_.delay(w.attempts, rng_);
        }
        break;
      }
    }
  }
  for (std::size_t k = 0; k < pass.dead.size(); ++k) {
    const auto& d = pass.dead[k];
    auto& r = pass.out[pass.dead_of[k]];
    if (res.dead[k] == WriteStatus::written) {
      r.outcome = Outcome::dead_lettered;
      r.reason = d.reason;
      r.version = d.version;
      r.state = d.state;
    } else {
      r.outcome = Outcome::duplicate;
    }
  }
}

// Duplicates found by the commit (another worker recorded the event meanwhile)
// learn the first outcome with one more read.
void Engine::fill_first_outcomes(OutcomeStore& store, const std::vector<WorkPtr>& batch, std::vector<ItemResult>& out) {
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < out.size(); ++i)
    if (out[i].outcome == Outcome::duplicate && !out[i].first) ids.push_back(idempotency_key(*batch[i]));
  if (ids.empty()) return;
  const auto prior = store.find_outcomes(ids);
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (out[i].outcome != Outcome::duplicate || out[i].first) continue;
    const auto it = prior.find(idempotency_key(*batch[i]));
    if (it == prior.end()) continue;
    out[i].first = it->second;
    out[i].version = it->second.version;
    out[i].state = it->second.state;
  }
}

}  // namespace lockstep
