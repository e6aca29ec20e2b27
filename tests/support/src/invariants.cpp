#include <pqxx/pqxx>

#include "lockstep/test/support.hpp"

namespace lockstep::test {

std::vector<std::string> invariant_violations(const TestDb& db, const MachineSet& machines) {
  std::vector<std::string> out;
  pqxx::connection c(db.url());
  pqxx::nontransaction tx(c);
  auto count = [&](const std::string& what, const std::string& sql) {
    auto n = tx.exec(sql)[0][0].as<long>();
    if (n != 0) out.push_back(what + ": " + std::to_string(n));
  };
  count("applied outcomes without exactly one audit row",
        "SELECT count(*) FROM processed_events p WHERE p.outcome = 'applied' AND "
        "(SELECT count(*) FROM transition_audit t WHERE t.event_id = p.event_id) <> 1");
  count("audit rows without an applied outcome",
        "SELECT count(*) FROM transition_audit t LEFT JOIN processed_events p USING (event_id) "
        "WHERE p.event_id IS NULL OR p.outcome <> 'applied'");
  count("dead_lettered outcomes without exactly one dead_letters row",
        "SELECT count(*) FROM processed_events p WHERE p.outcome = 'dead_lettered' AND "
        "(SELECT count(*) FROM dead_letters d WHERE d.event_id = p.event_id) <> 1");
  count("dead_letters rows without a dead_lettered outcome",
        "SELECT count(*) FROM dead_letters d LEFT JOIN processed_events p USING (event_id) "
        "WHERE p.event_id IS NULL OR p.outcome <> 'dead_lettered'");
  count("audit versions not exactly 1..n per aggregate",
        "SELECT count(*) FROM (SELECT to_version, row_number() OVER (PARTITION BY aggregate_type, aggregate_id "
        "ORDER BY to_version) AS rn FROM transition_audit) x WHERE to_version <> rn");
  count("aggregates whose version differs from their audit row count",
        "SELECT count(*) FROM aggregates a WHERE a.version <> (SELECT count(*) FROM transition_audit t "
        "WHERE t.aggregate_type = a.aggregate_type AND t.aggregate_id = a.aggregate_id)");
  count("audit rows whose from_state is not the previous to_state",
        "SELECT count(*) FROM transition_audit t LEFT JOIN transition_audit p ON p.aggregate_type = t.aggregate_type "
        "AND p.aggregate_id = t.aggregate_id AND p.to_version = t.from_version "
        "WHERE t.from_version > 0 AND (p.id IS NULL OR p.to_state IS DISTINCT FROM t.from_state)");
  count("aggregates whose state is not the last audited to_state",
        "SELECT count(*) FROM aggregates a JOIN transition_audit t ON t.aggregate_type = a.aggregate_type "
        "AND t.aggregate_id = a.aggregate_id AND t.to_version = a.version WHERE t.to_state <> a.state");
  long bad = 0;
  for (const auto& row : tx.exec("SELECT aggregate_type, transition, from_state, to_state FROM transition_audit")) {
    const auto type = row[0].as<std::string>();
    const auto tr = row[1].as<std::string>();
    const bool exists = !row[2].is_null();
    const auto from = exists ? row[2].as<std::string>() : std::string();
    auto m = machines.find(type);
    if (m == machines.end() || !transition_allowed(m->second, tr, exists, from)) {
      ++bad;
      continue;
    }
    const auto& t = m->second.transitions.at(tr);
    const auto expect_to = t.to ? *t.to : from;
    if (row[3].as<std::string>() != expect_to) ++bad;
  }
  if (bad) out.push_back("audited transitions not allowed by the machine: " + std::to_string(bad));
  return out;
}

}  // namespace lockstep::test
