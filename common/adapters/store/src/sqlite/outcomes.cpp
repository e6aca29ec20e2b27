// Embedded store, the hot path: prior outcomes, aggregate reads, and the batch
// commit with the PostgreSQL store's batch rules, row by row in one transaction.
#include <unordered_set>

#include "sqlite_store.hpp"

namespace lockstep::sqlite {
namespace {

// PostgreSQL cannot store NUL characters in text or jsonb, and rejects the whole
// batch (DataStoreError). The embedded store refuses the same values, so an
// event gets the same outcome on either database. (Raw bytes, keys and header
// values are binary on both and may hold anything.)
void check_storable(const std::vector<AppliedWrite>& applied, const std::vector<DeadLetterWrite>& dead) {
  auto reject = [](const std::string& event_id, const char* field) {
    throw DataStoreError(std::string("database rejected the data: ") + field + " of event " + clean(event_id) +
                         " contains a NUL character");
  };
  for (const auto& w : applied) {
    if (has_nul(w.event_id)) reject("", "event_id");
    if (has_nul(w.aggregate_type) || has_nul(w.aggregate_id)) reject(w.event_id, "the aggregate key");
    if (has_nul(w.transition) || has_nul(w.from_state) || has_nul(w.to_state)) reject(w.event_id, "a state name");
    if (has_nul(w.new_data)) reject(w.event_id, "data");
    if (has_nul(w.actor) || has_nul(w.occurred_at)) reject(w.event_id, "actor/occurred_at");
    if (has_nul(w.src.topic) || has_nul(w.src.source)) reject(w.event_id, "the source");
  }
  for (const auto& d : dead) {
    if (has_nul(d.event_id)) reject("", "event_id");
    if (has_nul(d.detail) || has_nul(d.aggregate_type) || has_nul(d.aggregate_id) || has_nul(d.state))
      reject(d.event_id, "a text field");
    if ((d.event && has_nul(*d.event)) || (d.conflict && has_nul(*d.conflict))) reject(d.event_id, "event/conflict");
    for (const auto& h : d.headers)
      if (has_nul(h.name)) reject(d.event_id, "a header name");
    if (has_nul(d.src.topic) || has_nul(d.consumer_group)) reject(d.event_id, "the source");
  }
}

}  // namespace

std::unordered_map<std::string, PriorOutcome> SqliteStore::find_outcomes(const std::vector<std::string>& ids) {
  std::unordered_map<std::string, PriorOutcome> out;
  if (ids.empty()) return out;
  const auto arr = json_text(Json(ids));
  guarded([&] {
    out.clear();
    auto s = stmt(
        "SELECT event_id, outcome, reason, version, state FROM processed_events "
        "WHERE event_id IN (SELECT value FROM json_each(?1))");
    s.bind(1, arr);
    while (s.step()) {
      PriorOutcome p;
      p.outcome = s.text(1);
      p.reason = s.opt_text(2);
      if (!s.is_null(3)) p.version = s.i64(3);
      p.state = s.opt_text(4);
      out.emplace(s.text(0), std::move(p));
    }
  });
  return out;
}

std::vector<Snapshot> SqliteStore::read(const std::vector<AggregateRef>& refs) {
  std::vector<Snapshot> out(refs.size());
  if (refs.empty()) return out;
  Json keys = Json::array();
  for (const auto& r : refs) keys.push_back(Json::array({r.type, r.id}));
  const auto text = json_text(keys);
  guarded([&] {
    std::fill(out.begin(), out.end(), Snapshot{});
    // One statement: one consistent snapshot of all of them, no lock held.
    auto s = stmt(
        "SELECT k.key, a.state, a.version, a.data, a.updated_at, a.updated_by FROM json_each(?1) k "
        "JOIN aggregates a ON a.aggregate_type = json_extract(k.value, '$[0]') "
        "AND a.aggregate_id = json_extract(k.value, '$[1]')");
    s.bind(1, text);
    while (s.step()) {
      auto& snap = out.at(static_cast<std::size_t>(s.i64(0)));
      snap.exists = true;
      snap.state = s.text(1);
      snap.version = s.i64(2);
      snap.data = Json::parse(s.text(3));
      snap.updated_at = s.text(4);
      snap.updated_by = s.is_null(5) ? "" : s.text(5);
    }
  });
  return out;
}

// The PostgreSQL store's batch rules, applied row by row in one transaction:
// only the first row of an event_id can claim it (later rows: duplicate); a
// claimed write's compare-and-set runs against the aggregate as it was before
// this batch (a key already written by an earlier row of the batch is
// cas_lost, as on PostgreSQL where the whole batch is one statement); a lost
// CAS releases its claim, so the same event can be retried or dead-lettered.
CommitResult SqliteStore::commit(const std::vector<AppliedWrite>& applied, const std::vector<DeadLetterWrite>& dead) {
  CommitResult res;
  res.applied.assign(applied.size(), WriteStatus::duplicate);
  res.dead.assign(dead.size(), WriteStatus::duplicate);
  if (applied.empty() && dead.empty()) return res;
  check_storable(applied, dead);

  guarded([&] {
    std::fill(res.applied.begin(), res.applied.end(), WriteStatus::duplicate);
    std::fill(res.dead.begin(), res.dead.end(), WriteStatus::duplicate);
    Tx tx(*this);
    const auto now = now_rfc3339();
    std::unordered_set<std::string> seen;
    Keys touched;
    for (std::size_t i = 0; i < applied.size(); ++i) {
      if (!seen.insert(clean(applied[i].event_id)).second) continue;  // duplicate within the batch
      res.applied[i] = write_applied(applied[i], now, touched);
    }
    std::unordered_set<std::string> seen_dead;
    for (std::size_t i = 0; i < dead.size(); ++i) {
      if (!seen_dead.insert(clean(dead[i].event_id)).second) continue;
      res.dead[i] = write_dead_letter(dead[i], now);
    }
    tx.commit();
  });
  return res;
}

// One claimed applied write: its processed_events claim (duplicate when the
// event already has an outcome), its compare-and-set (cas_lost, claim given
// back, unless the key is untouched by this batch and the CAS holds), its audit.
WriteStatus SqliteStore::write_applied(const AppliedWrite& w, const std::string& now, Keys& touched) {
  const auto event_id = clean(w.event_id);
  const auto type = clean(w.aggregate_type), id = clean(w.aggregate_id);
  const auto to_state = clean(w.to_state);
  {
    auto s = stmt(
        "INSERT INTO processed_events (event_id, outcome, aggregate_type, aggregate_id, version, state, "
        "processed_at) VALUES (?1, 'applied', ?2, ?3, ?4, ?5, ?6) ON CONFLICT (event_id) DO NOTHING");
    s.bind(1, event_id).bind(2, type).bind(3, id).bind(4, w.read_version + 1).bind(5, to_state).bind(6, now);
    if (s.run() == 0) return WriteStatus::duplicate;  // the event already has an outcome
  }
  const auto key = std::make_pair(type, id);
  const bool ok = !touched.count(key) && compare_and_set(w, type, id, to_state, now);
  if (!ok) {
    auto s = stmt("DELETE FROM processed_events WHERE event_id = ?1");
    s.bind(1, event_id).run();
    return WriteStatus::cas_lost;
  }
  touched.insert(key);
  insert_audit(w, event_id, type, id, to_state, now);
  return WriteStatus::written;
}

// The aggregate's compare-and-set: an update at the read version and state, or
// the insert of a new aggregate (read version 0). Whether it took.
bool SqliteStore::compare_and_set(const AppliedWrite& w, const std::string& type, const std::string& id,
                                  const std::string& to_state, const std::string& now) {
  if (w.read_version > 0) {
    auto s = stmt(
        "UPDATE aggregates SET state = ?1, version = version + 1, data = ?2, updated_at = ?3, "
        "updated_by = ?4 WHERE aggregate_type = ?5 AND aggregate_id = ?6 AND version = ?7 AND state = ?8");
    s.bind(1, to_state).bind(2, json_text(w.new_data)).bind(3, now).bind(4, clean(w.actor));
    s.bind(5, type).bind(6, id).bind(7, w.read_version).bind(8, clean(w.from_state));
    return s.run() == 1;
  }
  auto s = stmt(
      "INSERT INTO aggregates (aggregate_type, aggregate_id, state, version, data, created_at, updated_at, "
      "updated_by) VALUES (?1, ?2, ?3, 1, ?4, ?5, ?5, ?6) "
      "ON CONFLICT (aggregate_type, aggregate_id) DO NOTHING");
  s.bind(1, type).bind(2, id).bind(3, to_state).bind(4, json_text(w.new_data)).bind(5, now);
  s.bind(6, clean(w.actor));
  return s.run() == 1;
}

void SqliteStore::insert_audit(const AppliedWrite& w, const std::string& event_id, const std::string& type,
                               const std::string& id, const std::string& to_state, const std::string& now) {
  auto s = stmt(
      "INSERT INTO transition_audit (aggregate_type, aggregate_id, event_id, transition, from_state, to_state, "
      "from_version, to_version, source, actor, source_topic, source_partition, source_offset, occurred_at, "
      "applied_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)");
  s.bind(1, type).bind(2, id).bind(3, event_id).bind(4, clean(w.transition)).bind(5, clean(w.from_state));
  s.bind(6, to_state).bind(7, w.read_version).bind(8, w.read_version + 1).bind(9, clean(w.src.source));
  s.bind(10, clean(w.actor)).bind(11, clean(w.src.topic)).bind(12, w.src.partition).bind(13, w.src.offset);
  s.bind(14, clean(w.occurred_at)).bind(15, now);
  s.run();
}

// One dead letter: its processed_events claim (duplicate when the event already
// has an outcome) and its dead_letters row, the outbox's.
WriteStatus SqliteStore::write_dead_letter(const DeadLetterWrite& d, const std::string& now) {
  const auto event_id = clean(d.event_id);
  const char* reason = to_string(d.reason);
  {
    auto s = stmt(
        "INSERT INTO processed_events (event_id, outcome, reason, aggregate_type, aggregate_id, version, state, "
        "processed_at) VALUES (?1, 'dead_lettered', ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (event_id) DO NOTHING");
    s.bind(1, event_id).bind(2, reason).bind(3, clean(d.aggregate_type)).bind(4, clean(d.aggregate_id));
    s.bind(5, d.version).bind(6, clean(d.state)).bind(7, now);
    if (s.run() == 0) return WriteStatus::duplicate;
  }
  auto s = stmt(kDeadLetterInsert +
                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17) "
                "ON CONFLICT (event_id) DO NOTHING");
  bind_dead_letter(s, d, reason);
  s.bind(17, now);
  s.run();
  return WriteStatus::written;
}

}  // namespace lockstep::sqlite
