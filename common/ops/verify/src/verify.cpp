#include "lockstep/verify.hpp"

#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "lockstep/sql_reader.hpp"
#include "lockstep/wire.hpp"
#include "lockstep/event_keys.hpp"

namespace lockstep {
namespace {

// One check whose violations are the rows of `violating_sql` (first column:
// an id for the examples) out of `checked_sql`'s count.
InvariantCheck sql_check(SqlReader& db, std::string name, const std::string& checked_sql,
                         const std::string& violating_sql) {
  InvariantCheck c;
  c.name = std::move(name);
  c.checked = std::stol(db.query(checked_sql).at(0).at(0).value_or("0"));
  const auto r = db.query("SELECT count(*) OVER (), v.* FROM (" + violating_sql + ") v LIMIT 5");
  if (!r.empty()) c.violations = std::stol(r[0][0].value_or("0"));
  for (const auto& row : r) c.examples.push_back(row[1].value_or("(null)"));
  return c;
}


// 1. Every input event has exactly one outcome (processed_events' primary
//    key makes "more than one" impossible; "none" is what can go wrong).
InvariantCheck check_one_outcome_per_event(SqlReader& tx, const VerifyInputs& in) {
  InvariantCheck c;
  c.name = "every input event has exactly one outcome";
  if (!in.events) {
    c.skipped = true;
    c.note = "input topics not read";
    return c;
  }
  std::set<std::string> ids;
  for (const auto& m : *in.events) {
    const SourceRef src{m.topic, "", m.partition, m.offset, m.timestamp_ms};
    ids.insert(idempotency_key_for(parse_event(m.value, m.key, in.limits), src, m.value, m.key));
  }
  c.checked = static_cast<long>(ids.size());
  const bool pg = std::string(tx.dialect()) == "postgresql";
  const auto r = tx.query(std::string(pg ? "SELECT k FROM jsonb_array_elements_text($1::jsonb) k"
                                         : "SELECT value AS k FROM json_each($1)") +
                              " WHERE NOT EXISTS (SELECT 1 FROM processed_events p WHERE p.event_id = k)",
                          nlohmann::json(ids).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  c.violations = static_cast<long>(r.size());
  for (std::size_t i = 0; i < r.size() && i < 5; ++i) c.examples.push_back(r[i][0].value_or("(null)"));
  c.note = std::to_string(in.events->size()) + " messages";
  return c;
}

// 2. applied <=> exactly one audit row. The schema no longer keeps a unique
//    index on transition_audit.event_id (processed_events' key guards it), so an
//    event_id with two audit rows is looked for here.
InvariantCheck check_applied_audited(SqlReader& tx) {
  return sql_check(
      tx, "applied outcomes have exactly one audit row, audit rows an applied outcome",
      "SELECT (SELECT count(*) FROM processed_events WHERE outcome = 'applied') + "
      "(SELECT count(*) FROM transition_audit)",
      "SELECT p.event_id FROM processed_events p LEFT JOIN transition_audit t USING (event_id) "
      "WHERE p.outcome = 'applied' AND t.event_id IS NULL "
      "UNION ALL SELECT t.event_id FROM transition_audit t LEFT JOIN processed_events p USING (event_id) "
      "WHERE p.event_id IS NULL OR p.outcome <> 'applied' "
      "UNION ALL SELECT event_id FROM transition_audit GROUP BY event_id HAVING count(*) > 1");
}

// 3. dead_lettered <=> exactly one dead_letters row (dead_letters.event_id is unique).
InvariantCheck check_dead_lettered_rows(SqlReader& tx) {
  return sql_check(
      tx, "dead-lettered outcomes have exactly one dead_letters row, rows a dead-lettered outcome",
      "SELECT (SELECT count(*) FROM processed_events WHERE outcome = 'dead_lettered') + "
      "(SELECT count(*) FROM dead_letters)",
      "SELECT p.event_id FROM processed_events p LEFT JOIN dead_letters d USING (event_id) "
      "WHERE p.outcome = 'dead_lettered' AND d.event_id IS NULL "
      "UNION ALL SELECT d.event_id FROM dead_letters d LEFT JOIN processed_events p USING (event_id) "
      "WHERE p.event_id IS NULL OR p.outcome <> 'dead_lettered'");
}

// 4. Per aggregate the audit versions are exactly 1..version.
InvariantCheck check_audit_versions(SqlReader& tx) {
  return sql_check(
      tx, "audit versions are exactly 1..version per aggregate", "SELECT count(*) FROM aggregates",
      "SELECT a.aggregate_type || ':' || a.aggregate_id FROM aggregates a LEFT JOIN ("
      "  SELECT aggregate_type, aggregate_id, count(*) AS n, count(DISTINCT to_version) AS d, min(to_version) AS lo, "
      "         max(to_version) AS hi FROM transition_audit GROUP BY aggregate_type, aggregate_id) s "
      "  USING (aggregate_type, aggregate_id) "
      "WHERE s.n IS DISTINCT FROM a.version OR s.d IS DISTINCT FROM a.version OR s.lo IS DISTINCT FROM 1 "
      "   OR s.hi IS DISTINCT FROM a.version "
      "UNION ALL SELECT DISTINCT t.aggregate_type || ':' || t.aggregate_id FROM transition_audit t "
      "LEFT JOIN aggregates a USING (aggregate_type, aggregate_id) WHERE a.aggregate_id IS NULL");
}

// 5. The audit is one chain: each from_state is the previous to_state, the
//    row's state is the last one.
InvariantCheck check_audit_chain(SqlReader& tx) {
  return sql_check(
      tx, "each audit row's from_state is the previous row's to_state, the aggregate's state the last",
      "SELECT count(*) FROM transition_audit",
      "SELECT t.event_id FROM transition_audit t LEFT JOIN transition_audit p "
      "ON p.aggregate_type = t.aggregate_type AND p.aggregate_id = t.aggregate_id AND p.to_version = t.from_version "
      "WHERE (t.from_version > 0 AND (p.id IS NULL OR p.to_state IS DISTINCT FROM t.from_state)) "
      "OR (t.from_version = 0 AND t.from_state IS NOT NULL) "
      "UNION ALL SELECT a.aggregate_type || ':' || a.aggregate_id FROM aggregates a JOIN transition_audit t "
      "ON t.aggregate_type = a.aggregate_type AND t.aggregate_id = a.aggregate_id AND t.to_version = a.version "
      "WHERE t.to_state <> a.state");
}

// 6. Within one source partition, a key's events were applied in offset order
//    (writes made directly through the store have no source topic: not ordered).
InvariantCheck check_offset_order(SqlReader& tx) {
  return sql_check(
      tx, "within a source partition, a key's events were applied in offset order",
      "SELECT count(*) FROM transition_audit WHERE source_topic <> ''",
      "SELECT event_id FROM (SELECT event_id, source_offset, lag(source_offset) OVER ("
      "  PARTITION BY aggregate_type, aggregate_id, source_topic, source_partition ORDER BY to_version) AS prev "
      "  FROM transition_audit WHERE source_topic <> '') x WHERE prev >= source_offset");
}

// 7. Every audited transition is allowed by its machine.
InvariantCheck check_transitions_allowed(SqlReader& tx, const MachineSet& machines) {
  InvariantCheck c;
  c.name = "every audited transition is allowed by its state machine";
  for (const auto& row :
       tx.query("SELECT event_id, aggregate_type, transition, from_state, to_state FROM transition_audit")) {
    ++c.checked;
    const auto type = row[1].value_or("");
    const auto tr = row[2].value_or("");
    const bool exists = row[3].has_value();
    const auto from = row[3].value_or("");
    const auto m = machines.find(type);
    bool ok = m != machines.end() && transition_allowed(m->second, tr, exists, from);
    if (ok) {
      const auto& t = m->second.transitions.at(tr);
      ok = row[4].value_or("") == (t.to ? *t.to : from);
    }
    if (!ok && c.violations++ < 5) c.examples.push_back(row[0].value_or("(null)"));
  }
  return c;
}

// 8. Every dead letter reached the dead-letter topic; every message there has its row.
InvariantCheck check_dead_letters_published(SqlReader& tx, const VerifyInputs& in) {
  InvariantCheck c;
  c.name = "every dead letter is on the dead-letter topic, every message there has its row";
  if (!in.dead_letters) {
    c.skipped = true;
    c.note = "dead-letter topic not read";
    return c;
  }
  std::map<std::string, long> on_topic;  // event_id -> messages
  long without_id = 0;
  for (const auto& m : *in.dead_letters) {
    if (auto id = wire::header_value(m.headers, wire::header::event_id))
      ++on_topic[*id];
    else
      ++without_id;
  }
  std::set<std::string> rows;
  for (const auto& row : tx.query("SELECT event_id FROM dead_letters")) rows.insert(row[0].value_or(""));
  c.checked = static_cast<long>(rows.size() + on_topic.size());
  auto bad = [&](const std::string& id) {
    if (c.violations++ < 5) c.examples.push_back(id);
  };
  for (const auto& id : rows)
    if (!on_topic.count(id)) bad(id);
  for (const auto& [id, n] : on_topic)
    if (!rows.count(id)) bad(id);
  long repeats = 0;
  for (const auto& [id, n] : on_topic) repeats += n - 1;
  c.violations += without_id;
  c.note = std::to_string(in.dead_letters->size()) + " messages, " + std::to_string(repeats) +
           " re-published (at-least-once relay), " + std::to_string(without_id) + " without " +
           wire::header::event_id;
  return c;
}

}  // namespace

std::vector<InvariantCheck> verify(const std::string& database_url, const MachineSet& machines,
                                   const VerifyInputs& in) {
  // One consistent snapshot for every query. On PostgreSQL it plans whole-table
  // joins (hash or merge), never a scan per row: on a database whose statistics
  // are stale (a fresh one, after a restart) a nested loop over two large tables
  // would take hours.
  const auto reader = open_reader(database_url);
  auto& tx = *reader;
  // The checks run (and query) in this order.
  std::vector<InvariantCheck> out;
  out.push_back(check_one_outcome_per_event(tx, in));
  out.push_back(check_applied_audited(tx));
  out.push_back(check_dead_lettered_rows(tx));
  out.push_back(check_audit_versions(tx));
  out.push_back(check_audit_chain(tx));
  out.push_back(check_offset_order(tx));
  out.push_back(check_transitions_allowed(tx, machines));
  out.push_back(check_dead_letters_published(tx, in));
  return out;
}

std::string format(const InvariantCheck& c) {
  std::string s = c.skipped ? "SKIP" : (c.violations ? "FAIL" : "PASS");
  s += "  " + c.name + ": ";
  if (c.skipped) return s + c.note;
  s += std::to_string(c.checked) + " checked, " + std::to_string(c.violations) + " violations";
  if (!c.note.empty()) s += " (" + c.note + ")";
  if (!c.examples.empty()) {
    s += "; e.g.";
    for (const auto& e : c.examples) s += " " + e;
  }
  return s;
}

std::string summary(const std::vector<InvariantCheck>& checks, const std::string& why_skipped) {
  long hold = 0, skipped = 0, violated = 0;
  for (const auto& c : checks) (c.skipped ? skipped : c.violations ? violated : hold)++;
  const std::string total = std::to_string(checks.size()) + " invariants";
  if (!skipped) return violated ? "violations in " + std::to_string(violated) + " of " + total : "all hold: " + total;
  return std::to_string(hold) + " hold, " + std::to_string(skipped) + " skipped" +
         (why_skipped.empty() ? "" : " (" + why_skipped + ")") + ", " + std::to_string(violated) + " violated";
}

}  // namespace lockstep
