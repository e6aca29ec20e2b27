// PostgreSQL store, the hot path: prior outcomes, aggregate reads, and the batch
// commit. Batches travel as one JSON document per statement
// (jsonb_to_recordset), so a whole batch is one round trip per table group and
// every event keeps its own compare-and-set.
#include "codec.hpp"
#include "json_text.hpp"
#include "pg_store.hpp"

namespace lockstep::postgres {
namespace {

// Within one batch, only the first row of an event_id can claim it (later rows
// with the same id are duplicates), and only the first claimed create of a key
// can insert it (later creates of that key are cas_lost): every write gets its
// own status and the batch never trips over its own unique constraints.
const char* kApplySql = R"SQL(
WITH input AS (
  SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(
    ord int, event_id text, aggregate_type text, aggregate_id text, transition text,
    from_state text, to_state text, read_version bigint, data jsonb, actor text,
    source text, source_topic text, source_partition int, source_offset bigint, occurred_at text)
),
firsts AS (
  SELECT DISTINCT ON (event_id) * FROM input ORDER BY event_id, ord
),
claimed AS (
  INSERT INTO processed_events (event_id, outcome, aggregate_type, aggregate_id, version, state)
  SELECT event_id, 'applied', aggregate_type, aggregate_id, read_version + 1, to_state
  FROM firsts ORDER BY aggregate_type, aggregate_id
  @ON_CONFLICT@
  RETURNING event_id
),
cl AS (
  SELECT f.* FROM firsts f JOIN claimed c USING (event_id)
),
upd AS (
  -- Rows are updated, and so locked, in one stable order, so that two
  -- batches touching the same keys from different workers wait for each
  -- other instead of deadlocking: the sorted subquery (ORDER BY keeps it from
  -- being flattened) drives a nested loop over the primary key, or probes a
  -- hash of a small table. On a table of a few thousand rows the planner
  -- hashes the batch and scans the table instead: the heap's order, the same
  -- for every transaction unless a third writer moved one of the rows in
  -- between; PostgreSQL then detects the deadlock (40P01) and the batch is
  -- retried like any transient fault. No separate locking step: it cost a
  -- second index probe and a lock record per row.
  UPDATE aggregates a
     SET state = i.to_state, version = a.version + 1, data = i.data,
         updated_at = now(), updated_by = i.actor
    FROM (SELECT * FROM cl WHERE read_version > 0 ORDER BY aggregate_type, aggregate_id) i
   WHERE a.aggregate_type = i.aggregate_type AND a.aggregate_id = i.aggregate_id
     AND a.version = i.read_version AND a.state = i.from_state
  RETURNING i.ord
),
creates AS (
  SELECT DISTINCT ON (aggregate_type, aggregate_id) * FROM cl
   WHERE read_version = 0
   ORDER BY aggregate_type, aggregate_id, ord
),
ins AS (
  INSERT INTO aggregates (aggregate_type, aggregate_id, state, version, data, updated_by)
  SELECT aggregate_type, aggregate_id, to_state, 1, data, actor
    FROM creates
   ORDER BY aggregate_type, aggregate_id
  ON CONFLICT (aggregate_type, aggregate_id) DO NOTHING
  RETURNING aggregate_type, aggregate_id
),
done AS (
  SELECT ord FROM upd
  UNION ALL
  SELECT cr.ord FROM ins JOIN creates cr USING (aggregate_type, aggregate_id)
),
audit AS (
  INSERT INTO transition_audit (aggregate_type, aggregate_id, event_id, transition, from_state, to_state,
                                from_version, to_version, source, actor, source_topic, source_partition,
                                source_offset, occurred_at)
  SELECT i.aggregate_type, i.aggregate_id, i.event_id, i.transition, i.from_state, i.to_state,
         i.read_version, i.read_version + 1, i.source, i.actor, i.source_topic, i.source_partition,
         i.source_offset, i.occurred_at
    FROM cl i JOIN done d USING (ord)
)
SELECT i.ord, (c.ord IS NOT NULL) AS claimed, (d.ord IS NOT NULL) AS applied
  FROM input i LEFT JOIN cl c USING (ord) LEFT JOIN done d USING (ord)
)SQL";

const char* kDeadSql = R"SQL(
WITH input AS (
  SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(
    ord int, event_id text, reason text, detail text, aggregate_type text, aggregate_id text,
    event jsonb, raw text, kafka_key text, headers jsonb, conflict jsonb, source_topic text,
    source_partition int, source_offset bigint, source_timestamp bigint, consumer_group text,
    attempts int, version bigint, state text)
),
firsts AS (
  SELECT DISTINCT ON (event_id) * FROM input ORDER BY event_id, ord
),
claimed AS (
  INSERT INTO processed_events (event_id, outcome, reason, aggregate_type, aggregate_id, version, state)
  SELECT event_id, 'dead_lettered', reason, aggregate_type, aggregate_id, version, state
  FROM firsts ORDER BY event_id
  ON CONFLICT (event_id) DO NOTHING
  RETURNING event_id
),
cl AS (
  SELECT f.* FROM firsts f JOIN claimed c USING (event_id)
),
dl AS (
  INSERT INTO dead_letters (event_id, reason, detail, aggregate_type, aggregate_id, event, raw, kafka_key,
                            headers, conflict, source_topic, source_partition, source_offset,
                            source_timestamp, consumer_group, attempts)
  SELECT i.event_id, i.reason, i.detail, i.aggregate_type, i.aggregate_id, i.event,
         decode(i.raw, 'base64'), decode(i.kafka_key, 'base64'), i.headers, i.conflict, i.source_topic,
         i.source_partition, i.source_offset, i.source_timestamp, i.consumer_group, i.attempts
    FROM cl i
  ON CONFLICT (event_id) DO NOTHING
)
SELECT i.ord, (c.ord IS NOT NULL) AS claimed
  FROM input i LEFT JOIN cl c USING (ord)
)SQL";


// A JSON value as the document carries it: dumped once, invalid UTF-8 replaced.
std::string json_text(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

// The document of apply_batch: one object per applied write, `ord` its index.
// Written as text directly (JsonText): this runs for every event.
std::string applied_document(const std::vector<AppliedWrite>& applied) {
  JsonText d;
  d.reserve(applied.size() * 400);
  d.begin_array();
  for (std::size_t i = 0; i < applied.size(); ++i) {
    const auto& w = applied[i];
    d.begin_object()
        .key("ord").value(i)
        .key("event_id").value(w.event_id)
        .key("aggregate_type").value(w.aggregate_type)
        .key("aggregate_id").value(w.aggregate_id)
        .key("transition").value(w.transition)
        .key("from_state").value(w.from_state)
        .key("to_state").value(w.to_state)
        .key("read_version").value(w.read_version)
        .key("data").raw(json_text(w.new_data))
        .key("actor").value(w.actor)
        .key("source").value(w.src.source)
        .key("source_topic").value(w.src.topic)
        .key("source_partition").value(w.src.partition)
        .key("source_offset").value(w.src.offset)
        .key("occurred_at").value(w.occurred_at)
        .end_object();
  }
  d.end_array();
  return d.take();
}

// The document of dead_batch: one object per dead letter, `ord` its index.
std::string dead_document(const std::vector<DeadLetterWrite>& dead) {
  JsonText d;
  d.begin_array();
  for (std::size_t i = 0; i < dead.size(); ++i) {
    const auto& w = dead[i];
    d.begin_object()
        .key("ord").value(i)
        .key("event_id").value(w.event_id)
        .key("reason").value(to_string(w.reason))
        .key("detail").value(w.detail)
        .key("aggregate_type").value(w.aggregate_type)
        .key("aggregate_id").value(w.aggregate_id);
    d.key("event");
    if (w.event) d.raw(json_text(*w.event)); else d.null();
    d.key("raw").value(base64_encode(w.raw));
    d.key("kafka_key");
    if (w.kafka_key) d.value(base64_encode(*w.kafka_key)); else d.null();
    d.key("headers").raw(json_text(headers_to_json(w.headers)));
    d.key("conflict");
    if (w.conflict) d.raw(json_text(*w.conflict)); else d.null();
    d.key("source_topic").value(w.src.topic)
        .key("source_partition").value(w.src.partition)
        .key("source_offset").value(w.src.offset)
        .key("source_timestamp").value(w.src.timestamp_ms)
        .key("consumer_group").value(w.consumer_group)
        .key("attempts").value(w.attempts);
    d.key("version");
    if (w.version) d.value(*w.version); else d.null();
    d.key("state").value(w.state).end_object();
  }
  d.end_array();
  return d.take();
}

// A JSON array of strings.
std::string string_array(const std::vector<std::string>& items) {
  JsonText d;
  d.begin_array();
  for (const auto& s : items) d.value(s);
  d.end_array();
  return d.take();
}

// The applied writes of a commit: a status per write (`status`, by ord). A
// claimed write whose compare-and-set was lost gives its claim back, so that
// the event can be retried or dead-lettered.
void apply_writes(pqxx::work& tx, const std::vector<AppliedWrite>& applied, const std::string& document,
                  std::vector<WriteStatus>& status, bool racing) {
  std::vector<std::string> lost;
  auto r = tx.exec_prepared(racing ? "apply_batch_racing" : "apply_batch", document);
  for (const auto& row : r) {
    const auto i = row[0].as<std::size_t>();
    const bool claimed = row[1].as<bool>();
    const bool ok = row[2].as<bool>();
    if (ok) {
      status.at(i) = WriteStatus::written;
    } else if (claimed) {
      status.at(i) = WriteStatus::cas_lost;
      lost.push_back(applied[i].event_id);
    } else {
      status.at(i) = WriteStatus::duplicate;
    }
  }
  if (!lost.empty()) tx.exec_prepared("unclaim", string_array(lost));
}

// The dead letters of a commit: a status per dead letter (`status`, by ord).
void write_dead_letters(pqxx::work& tx, const std::string& document, std::vector<WriteStatus>& status) {
  auto r = tx.exec_prepared("dead_batch", document);
  for (const auto& row : r)
    status.at(row[0].as<std::size_t>()) = row[1].as<bool>() ? WriteStatus::written : WriteStatus::duplicate;
}

}  // namespace

void prepare_outcome_statements(pqxx::connection& c) {
  c.prepare("find_outcomes",
            "SELECT event_id, outcome, reason, version, state FROM processed_events "
            "WHERE event_id IN (SELECT jsonb_array_elements_text($1::jsonb))");
  c.prepare("read_aggregates",
            "SELECT k.ord, a.state, a.version, a.data::text, " + ts("a.updated_at") +
                ", a.updated_by FROM jsonb_to_recordset($1::jsonb) AS k(ord int, t text, i text) "
                "JOIN aggregates a ON a.aggregate_type = k.t AND a.aggregate_id = k.i");
  // apply_batch inserts the claims plainly: the engine has just looked the
  // event_ids up, and ON CONFLICT DO NOTHING would cost every row a speculative
  // insertion (one more WAL record and a second index probe). An outcome that
  // another worker commits meanwhile makes it fail on processed_events' key;
  // commit() then runs apply_batch_racing, which skips such event_ids.
  const std::string sql = kApplySql;
  const auto at = sql.find("@ON_CONFLICT@");
  c.prepare("apply_batch", std::string(sql).replace(at, 13, ""));
  c.prepare("apply_batch_racing", std::string(sql).replace(at, 13, "ON CONFLICT (event_id) DO NOTHING"));
  c.prepare("unclaim", "DELETE FROM processed_events WHERE event_id IN (SELECT jsonb_array_elements_text($1::jsonb))");
  c.prepare("dead_batch", kDeadSql);
}

std::unordered_map<std::string, PriorOutcome> PgStore::find_outcomes(const std::vector<std::string>& ids) {
  std::unordered_map<std::string, PriorOutcome> out;
  if (ids.empty()) return out;
  guarded([&] {
    pqxx::nontransaction tx(data_connection());
    auto r = tx.exec_prepared("find_outcomes", string_array(ids));
    for (const auto& row : r) {
      PriorOutcome p;
      p.outcome = row[1].as<std::string>();
      p.reason = opt(row[2]);
      if (!row[3].is_null()) p.version = row[3].as<int64_t>();
      p.state = opt(row[4]);
      out.emplace(row[0].as<std::string>(), std::move(p));
    }
  });
  return out;
}

std::vector<Snapshot> PgStore::read(const std::vector<AggregateRef>& refs) {
  std::vector<Snapshot> out(refs.size());
  if (refs.empty()) return out;
  JsonText keys;
  keys.begin_array();
  for (std::size_t i = 0; i < refs.size(); ++i)
    keys.begin_object().key("ord").value(i).key("t").value(refs[i].type).key("i").value(refs[i].id).end_object();
  keys.end_array();
  guarded([&] {
    pqxx::nontransaction tx(data_connection());
    auto r = tx.exec_prepared("read_aggregates", keys.str());
    for (const auto& row : r) {
      auto& s = out.at(row[0].as<std::size_t>());
      s.exists = true;
      s.state = row[1].as<std::string>();
      s.version = row[2].as<int64_t>();
      s.data = Json::parse(row[3].as<std::string>());
      s.updated_at = row[4].as<std::string>();
      s.updated_by = row[5].is_null() ? "" : row[5].as<std::string>();
    }
  });
  return out;
}

CommitResult PgStore::commit(const std::vector<AppliedWrite>& applied, const std::vector<DeadLetterWrite>& dead) {
  CommitResult res;
  res.applied.assign(applied.size(), WriteStatus::duplicate);
  res.dead.assign(dead.size(), WriteStatus::duplicate);
  if (applied.empty() && dead.empty()) return res;
  const auto a_text = applied.empty() ? std::string() : applied_document(applied);
  const auto d_text = dead.empty() ? std::string() : dead_document(dead);
  // Another worker's outcome for one of these events, committed while this
  // transaction inserted it (a partition handed over mid-batch): the batch
  // runs again, skipping the event_ids that have an outcome by then.
  bool racing = false;
  for (;;) {
    bool raced = false;
    guarded([&] {
      try {
        pqxx::work tx(data_connection());
        if (!applied.empty()) apply_writes(tx, applied, a_text, res.applied, racing);
        if (!dead.empty()) write_dead_letters(tx, d_text, res.dead);
        tx.commit();
      } catch (const pqxx::unique_violation&) {
        if (racing) throw;  // not a race: the data itself (a DataStoreError)
        raced = true;       // the transaction rolled back as `tx` went
      }
    });
    if (!raced) return res;
    racing = true;
  }
}

}  // namespace lockstep::postgres
