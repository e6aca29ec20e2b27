// Embedded store, operators' actions on dead letters: list, show, resolve
// (replayed / discarded) and import (`dlq drain`); and how a dead_letters row
// is read, which the outbox shares.
#include <algorithm>
#include <climits>

#include "sqlite_store.hpp"

namespace lockstep::sqlite {

DeadLetterRecord record_from_row(const Stmt& s) {
  DeadLetterRecord d;
  d.id = s.i64(0);
  d.event_id = s.text(1);
  d.reason = s.text(2);
  d.detail = s.text(3);
  d.aggregate_type = s.opt_text(4);
  d.aggregate_id = s.opt_text(5);
  if (!s.is_null(6)) d.event = Json::parse(s.text(6), nullptr, false);
  d.raw = s.bytes(7);
  if (!s.is_null(8)) d.kafka_key = s.bytes(8);
  d.headers = headers_from_json(s.text(9));
  if (!s.is_null(10)) d.conflict = Json::parse(s.text(10), nullptr, false);
  d.src.topic = s.text(11);
  d.src.partition = s.is_null(12) ? 0 : static_cast<int32_t>(s.i64(12));
  d.src.offset = s.is_null(13) ? 0 : s.i64(13);
  d.src.timestamp_ms = s.is_null(14) ? -1 : s.i64(14);
  d.consumer_group = s.text(15);
  d.attempts = static_cast<int>(s.i64(16));
  d.status = s.text(17);
  d.created_at = s.text(18);
  d.resolved_at = s.opt_text(19);
  d.resolved_by = s.opt_text(20);
  d.note = s.opt_text(21);
  d.replay_event_id = s.opt_text(22);
  return d;
}

void SqliteStore::bind_dead_letter_filter(Stmt& s, const DeadLetterFilter& f) {
  const auto since = f.since ? std::optional<std::string>(timestamp(*f.since, "since")) : std::nullopt;
  const auto until = f.until ? std::optional<std::string>(timestamp(*f.until, "until")) : std::nullopt;
  s.bind(1, f.status).bind(2, f.reason).bind(3, f.aggregate_type).bind(4, f.aggregate_id);
  s.bind(5, since).bind(6, until).bind(7, f.after_id);
}

std::vector<DeadLetterRecord> SqliteStore::list_dead_letters(const DeadLetterFilter& f) {
  std::vector<DeadLetterRecord> out;
  guarded([&] {
    out.clear();
    auto s = stmt(std::string(kDeadLetterColumns) + kDeadLetterWhere + " ORDER BY id LIMIT ?8");
    bind_dead_letter_filter(s, f);
    s.bind(8, static_cast<int64_t>(std::min<std::size_t>(f.limit, INT64_MAX)));
    while (s.step()) out.push_back(record_from_row(s));
  });
  return out;
}

std::optional<DeadLetterRecord> SqliteStore::get_dead_letter(int64_t id) {
  std::optional<DeadLetterRecord> out;
  guarded([&] {
    out.reset();
    auto s = stmt(std::string(kDeadLetterColumns) + " WHERE id = ?1");
    s.bind(1, id);
    if (s.step()) out = record_from_row(s);
  });
  return out;
}

// The write lock is held while `act` runs (SQLite has no row lock to take
// instead): a second operator waits for it (up to the busy timeout), then
// finds the row no longer open.
bool SqliteStore::resolve_dead_letter(int64_t id, const Resolution& r,
                                      const std::function<bool(const DeadLetterRecord&)>& act) {
  bool done = false;
  guarded([&] {
    done = false;
    Tx tx(*this);
    std::optional<DeadLetterRecord> rec;
    {
      auto s = stmt(std::string(kDeadLetterColumns) + " WHERE id = ?1 AND status = 'open'");
      s.bind(1, id);
      if (s.step()) rec = record_from_row(s);
    }
    if (!rec) return;
    if (!act(*rec)) return;  // rolls back
    auto s = stmt(std::string("UPDATE dead_letters SET status = ?2, resolved_at = ") + kNow +
                  ", resolved_by = ?3, note = ?4, replay_event_id = ?5 WHERE id = ?1");
    s.bind(1, id).bind(2, clean(r.status)).bind(3, clean(r.by));
    s.bind(4, clean(r.note)).bind(5, clean(r.replay_event_id));
    s.run();
    tx.commit();
    done = true;
  });
  return done;
}

std::vector<WriteStatus> SqliteStore::import_dead_letters(const std::vector<DeadLetterRecord>& recs) {
  std::vector<WriteStatus> out(recs.size(), WriteStatus::duplicate);
  if (recs.empty()) return out;
  for (const auto& d : recs) {
    if (has_nul(d.event_id) || has_nul(d.reason) || has_nul(d.detail) || has_nul(d.aggregate_type) ||
        has_nul(d.aggregate_id) || has_nul(d.src.topic) || has_nul(d.consumer_group) ||
        (d.event && has_nul(*d.event)) || (d.conflict && has_nul(*d.conflict)))
      throw DataStoreError("database rejected the data: dead letter " + clean(d.event_id) +
                           " contains a NUL character");
  }
  guarded([&] {
    std::fill(out.begin(), out.end(), WriteStatus::duplicate);
    Tx tx(*this);
    const auto now = now_rfc3339();
    for (std::size_t i = 0; i < recs.size(); ++i) {
      const auto& d = recs[i];
      const auto created = d.created_at.empty() ? now : timestamp(d.created_at, "created_at");
      auto s = stmt(kDeadLetterInsert +
                    ", status, published_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, "
                    "?15, ?16, ?17, 'open', ?18) ON CONFLICT (event_id) DO NOTHING");
      bind_dead_letter(s, d, clean(d.reason));
      s.bind(17, created).bind(18, now);
      if (s.run() == 1) out[i] = WriteStatus::written;
    }
    tx.commit();
  });
  return out;
}

}  // namespace lockstep::sqlite
