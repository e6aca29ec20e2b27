// Embedded store, role Inspector: operators' reads (one aggregate, its audit
// history page by page, dead letters counted by reason and status). Timestamps
// are stored in the canonical form already.
#include <algorithm>
#include <climits>

#include "sqlite_store.hpp"

namespace lockstep::sqlite {

std::optional<AggregateRecord> SqliteStore::get_aggregate(const AggregateRef& ref) {
  std::optional<AggregateRecord> out;
  guarded([&] {
    out.reset();
    auto s = stmt("SELECT state, version, data, created_at, updated_at, updated_by FROM aggregates "
                  "WHERE aggregate_type = ?1 AND aggregate_id = ?2");
    s.bind(1, ref.type).bind(2, ref.id);
    if (!s.step()) return;
    AggregateRecord a;
    a.type = ref.type;
    a.id = ref.id;
    a.state = s.text(0);
    a.version = s.i64(1);
    a.data = Json::parse(s.text(2));
    a.created_at = s.text(3);
    a.updated_at = s.text(4);
    a.updated_by = s.opt_text(5);
    out = std::move(a);
  });
  return out;
}

std::vector<AuditRecord> SqliteStore::audit_history(const AggregateRef& ref, std::optional<int64_t> after_id,
                                                    std::size_t limit) {
  std::vector<AuditRecord> out;
  guarded([&] {
    out.clear();
    auto s = stmt(
        "SELECT id, event_id, transition, from_state, to_state, from_version, to_version, source, actor, "
        "occurred_at, source_topic, source_partition, source_offset, applied_at FROM transition_audit "
        "WHERE aggregate_type = ?1 AND aggregate_id = ?2 AND id > ?3 ORDER BY id LIMIT ?4");
    s.bind(1, ref.type).bind(2, ref.id).bind(3, after_id.value_or(0));
    s.bind(4, static_cast<int64_t>(std::min<std::size_t>(limit, INT64_MAX)));
    while (s.step()) {
      AuditRecord a;
      a.id = s.i64(0);
      a.event_id = s.text(1);
      a.transition = s.text(2);
      a.from_state = s.opt_text(3);
      a.to_state = s.text(4);
      a.from_version = s.i64(5);
      a.to_version = s.i64(6);
      a.source = s.opt_text(7);
      a.actor = s.opt_text(8);
      a.occurred_at = s.opt_text(9);
      a.source_topic = s.opt_text(10);
      if (!s.is_null(11)) a.source_partition = static_cast<int32_t>(s.i64(11));
      if (!s.is_null(12)) a.source_offset = s.i64(12);
      a.applied_at = s.text(13);
      out.push_back(std::move(a));
    }
  });
  return out;
}

std::vector<DeadLetterCount> SqliteStore::count_dead_letters(const DeadLetterFilter& f) {
  auto all = f;
  all.after_id.reset();
  std::vector<DeadLetterCount> out;
  guarded([&] {
    out.clear();
    auto s = stmt(std::string("SELECT reason, status, count(*) FROM dead_letters") + kDeadLetterWhere +
                  " GROUP BY reason, status ORDER BY reason, status");
    bind_dead_letter_filter(s, all);
    while (s.step()) out.push_back({s.text(0), s.text(1), s.i64(2)});
  });
  return out;
}

}  // namespace lockstep::sqlite
