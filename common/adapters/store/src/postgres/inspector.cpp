// PostgreSQL store, role Inspector: operators' reads (one aggregate, its audit
// history page by page, dead letters counted by reason and status). No locks.
#include <algorithm>
#include <climits>

#include "pg_store.hpp"

namespace lockstep::postgres {

std::optional<AggregateRecord> PgStore::get_aggregate(const AggregateRef& ref) {
  std::optional<AggregateRecord> out;
  guarded([&] {
    out.reset();
    pqxx::nontransaction tx(connection());
    auto r = tx.exec_params("SELECT state, version, data::text, " + ts("created_at") + ", " + ts("updated_at") +
                                ", updated_by FROM aggregates WHERE aggregate_type = $1 AND aggregate_id = $2",
                            ref.type, ref.id);
    if (r.empty()) return;
    const auto& row = r[0];
    AggregateRecord a;
    a.type = ref.type;
    a.id = ref.id;
    a.state = row[0].as<std::string>();
    a.version = row[1].as<int64_t>();
    a.data = Json::parse(row[2].as<std::string>());
    a.created_at = row[3].as<std::string>();
    a.updated_at = row[4].as<std::string>();
    a.updated_by = opt(row[5]);
    out = std::move(a);
  });
  return out;
}

std::vector<AuditRecord> PgStore::audit_history(const AggregateRef& ref, std::optional<int64_t> after_id,
                                                std::size_t limit) {
  std::vector<AuditRecord> out;
  guarded([&] {
    out.clear();
    pqxx::nontransaction tx(connection());
    auto r = tx.exec_params(
        "SELECT id, event_id, transition, from_state, to_state, from_version, to_version, source, actor, "
        "occurred_at, source_topic, source_partition, source_offset, " +
            ts("applied_at") +
            " FROM transition_audit WHERE aggregate_type = $1 AND aggregate_id = $2 AND id > $3 ORDER BY id LIMIT $4",
        ref.type, ref.id, after_id.value_or(0), static_cast<int64_t>(std::min<std::size_t>(limit, INT64_MAX)));
    for (const auto& row : r) {
      AuditRecord a;
      a.id = row[0].as<int64_t>();
      a.event_id = row[1].as<std::string>();
      a.transition = row[2].as<std::string>();
      a.from_state = opt(row[3]);
      a.to_state = row[4].as<std::string>();
      a.from_version = row[5].as<int64_t>();
      a.to_version = row[6].as<int64_t>();
      a.source = opt(row[7]);
      a.actor = opt(row[8]);
      a.occurred_at = opt(row[9]);
      a.source_topic = opt(row[10]);
      if (!row[11].is_null()) a.source_partition = row[11].as<int32_t>();
      if (!row[12].is_null()) a.source_offset = row[12].as<int64_t>();
      a.applied_at = row[13].as<std::string>();
      out.push_back(std::move(a));
    }
  });
  return out;
}

std::vector<DeadLetterCount> PgStore::count_dead_letters(const DeadLetterFilter& f) {
  auto all = f;
  all.after_id.reset();
  std::vector<DeadLetterCount> out;
  guarded([&] {
    out.clear();
    pqxx::nontransaction tx(connection());
    auto r = tx.exec_params(std::string("SELECT reason, status, count(*) FROM dead_letters") + kDeadLetterWhere +
                                " GROUP BY reason, status ORDER BY reason COLLATE \"C\", status COLLATE \"C\"",
                            dead_letter_filter_json(all));
    for (const auto& row : r)
      out.push_back({row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<int64_t>()});
  });
  return out;
}

}  // namespace lockstep::postgres
