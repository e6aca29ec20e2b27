// PostgreSQL store, operators' actions on dead letters: list, show, resolve
// (replayed / discarded) and import (`dlq drain`); and how a dead_letters row
// is read, which the outbox shares.
#include <algorithm>

#include "codec.hpp"
#include "pg_store.hpp"

namespace lockstep::postgres {
namespace {

std::string strip_newlines(std::string s) {
  s.erase(std::remove_if(s.begin(), s.end(), [](char c) { return c == '\n' || c == '\r'; }), s.end());
  return s;
}

}  // namespace

const std::string& dead_letter_select() {
  static const std::string sql =
      "SELECT id, event_id, reason, detail, aggregate_type, aggregate_id, event::text, encode(raw, 'base64'), "
      "encode(kafka_key, 'base64'), headers::text, conflict::text, source_topic, source_partition, "
      "source_offset, source_timestamp, consumer_group, attempts, status, " +
      ts("created_at") + ", " + ts("resolved_at") + ", resolved_by, note, replay_event_id FROM dead_letters";
  return sql;
}

DeadLetterRecord record_from_row(const pqxx::row& row) {
  DeadLetterRecord d;
  d.id = row[0].as<int64_t>();
  d.event_id = row[1].as<std::string>();
  d.reason = row[2].as<std::string>();
  d.detail = row[3].as<std::string>();
  d.aggregate_type = opt(row[4]);
  d.aggregate_id = opt(row[5]);
  if (!row[6].is_null()) d.event = Json::parse(row[6].as<std::string>(), nullptr, false);
  d.raw = base64_decode(strip_newlines(row[7].as<std::string>())).value_or("");
  if (!row[8].is_null()) d.kafka_key = base64_decode(strip_newlines(row[8].as<std::string>()));
  d.headers = headers_from_json(row[9].as<std::string>());
  if (!row[10].is_null()) d.conflict = Json::parse(row[10].as<std::string>(), nullptr, false);
  d.src.topic = row[11].is_null() ? "" : row[11].as<std::string>();
  d.src.partition = row[12].is_null() ? 0 : row[12].as<int32_t>();
  d.src.offset = row[13].is_null() ? 0 : row[13].as<int64_t>();
  d.src.timestamp_ms = row[14].is_null() ? -1 : row[14].as<int64_t>();
  d.consumer_group = row[15].is_null() ? "" : row[15].as<std::string>();
  d.attempts = row[16].as<int>();
  d.status = row[17].as<std::string>();
  d.created_at = row[18].as<std::string>();
  d.resolved_at = opt(row[19]);
  d.resolved_by = opt(row[20]);
  d.note = opt(row[21]);
  d.replay_event_id = opt(row[22]);
  return d;
}

std::string dead_letter_filter_json(const DeadLetterAdmin::DeadLetterFilter& f) {
  Json fj = Json::object();
  if (f.status) fj["status"] = *f.status;
  if (f.reason) fj["reason"] = *f.reason;
  if (f.aggregate_type) fj["aggregate_type"] = *f.aggregate_type;
  if (f.aggregate_id) fj["aggregate_id"] = *f.aggregate_id;
  if (f.since) fj["since"] = *f.since;
  if (f.until) fj["until"] = *f.until;
  if (f.after_id) fj["after_id"] = *f.after_id;
  return fj.dump();
}

const char* const kDeadLetterWhere =
    " WHERE ($1::jsonb->>'status' IS NULL OR status = $1::jsonb->>'status')"
    " AND ($1::jsonb->>'reason' IS NULL OR reason = $1::jsonb->>'reason')"
    " AND ($1::jsonb->>'aggregate_type' IS NULL OR aggregate_type = $1::jsonb->>'aggregate_type')"
    " AND ($1::jsonb->>'aggregate_id' IS NULL OR aggregate_id = $1::jsonb->>'aggregate_id')"
    " AND ($1::jsonb->>'since' IS NULL OR created_at >= ($1::jsonb->>'since')::timestamptz)"
    " AND ($1::jsonb->>'until' IS NULL OR created_at < ($1::jsonb->>'until')::timestamptz)"
    " AND ($1::jsonb->>'after_id' IS NULL OR id > ($1::jsonb->>'after_id')::bigint)";

std::vector<DeadLetterRecord> PgStore::list_dead_letters(const DeadLetterFilter& f) {
  std::vector<DeadLetterRecord> out;
  guarded([&] {
    pqxx::nontransaction tx(connection());
    auto r = tx.exec_params(dead_letter_select() + kDeadLetterWhere + " ORDER BY id LIMIT $2",
                            dead_letter_filter_json(f), static_cast<int64_t>(f.limit));
    for (const auto& row : r) out.push_back(record_from_row(row));
  });
  return out;
}

std::optional<DeadLetterRecord> PgStore::get_dead_letter(int64_t id) {
  std::optional<DeadLetterRecord> out;
  guarded([&] {
    pqxx::nontransaction tx(connection());
    auto r = tx.exec_params(dead_letter_select() + " WHERE id = $1", id);
    if (!r.empty()) out = record_from_row(r[0]);
  });
  return out;
}

bool PgStore::resolve_dead_letter(int64_t id, const Resolution& res,
                                  const std::function<bool(const DeadLetterRecord&)>& act) {
  bool done = false;
  guarded([&] {
    done = false;
    pqxx::work tx(connection());
    // NOWAIT would fail a second operator outright; waiting is what they expect,
    // and the status check after the wait tells them the row is no longer open.
    auto r = tx.exec_params(dead_letter_select() + " WHERE id = $1 AND status = 'open' FOR UPDATE", id);
    if (r.empty()) return;
    const auto rec = record_from_row(r[0]);
    if (!act(rec)) return;  // rolls back
    tx.exec_params(
        "UPDATE dead_letters SET status = $2, resolved_at = now(), resolved_by = $3, note = $4, "
        "replay_event_id = $5 WHERE id = $1",
        id, res.status, res.by, res.note, res.replay_event_id);
    tx.commit();
    done = true;
  });
  return done;
}

std::vector<WriteStatus> PgStore::import_dead_letters(const std::vector<DeadLetterRecord>& recs) {
  std::vector<WriteStatus> out(recs.size(), WriteStatus::duplicate);
  if (recs.empty()) return out;
  guarded([&] {
    std::fill(out.begin(), out.end(), WriteStatus::duplicate);
    pqxx::work tx(connection());
    for (std::size_t i = 0; i < recs.size(); ++i) {
      const auto& d = recs[i];
      const std::optional<std::string> event = d.event ? std::optional<std::string>(d.event->dump()) : std::nullopt;
      const std::optional<std::string> conflict =
          d.conflict ? std::optional<std::string>(d.conflict->dump()) : std::nullopt;
      const std::optional<std::string> key =
          d.kafka_key ? std::optional<std::string>(base64_encode(*d.kafka_key)) : std::nullopt;
      auto r = tx.exec_params(
          "INSERT INTO dead_letters (event_id, reason, aggregate_type, aggregate_id, detail, event, raw, kafka_key, "
          "headers, conflict, source_topic, source_partition, source_offset, source_timestamp, consumer_group, "
          "attempts, status, created_at, published_at) VALUES ($1, $2, $3, $4, $5, $6::jsonb, decode($7, 'base64'), "
          "decode($8, 'base64'), $9::jsonb, $10::jsonb, $11, $12, $13, $14, $15, $16, 'open', "
          "COALESCE($17::timestamptz, now()), now()) ON CONFLICT (event_id) DO NOTHING RETURNING id",
          d.event_id, d.reason, d.aggregate_type, d.aggregate_id, d.detail, event, base64_encode(d.raw), key,
          headers_to_json(d.headers).dump(), conflict, d.src.topic, d.src.partition, d.src.offset,
          d.src.timestamp_ms, d.consumer_group, d.attempts,
          d.created_at.empty() ? std::optional<std::string>() : std::optional<std::string>(d.created_at));
      if (!r.empty()) out[i] = WriteStatus::written;
    }
    tx.commit();
  });
  return out;
}

}  // namespace lockstep::postgres
