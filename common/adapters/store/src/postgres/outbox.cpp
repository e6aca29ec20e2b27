// PostgreSQL store, the outbox relay: due dead letters are selected FOR UPDATE
// SKIP LOCKED (concurrent relays never get the same row) and marked published
// or deferred in the same transaction, after the publish.
#include "pg_store.hpp"

namespace lockstep::postgres {

void prepare_outbox_statements(pqxx::connection& c) {
  // The due ids first, in the order of the unpublished index and only as many
  // as asked for, then their rows: selecting the rows' columns directly made
  // PostgreSQL render (base64, JSON text) and sort every unpublished row before
  // the LIMIT, which grew with the backlog.
  c.prepare("relay_select", dead_letter_select() +
                                " WHERE id IN (SELECT id FROM dead_letters"
                                " WHERE published_at IS NULL AND (relay_until IS NULL OR relay_until <= now())"
                                " ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) ORDER BY id");
  // A deferred row is due again after 2^attempts seconds, at most 5 minutes.
  c.prepare("relay_defer",
            "UPDATE dead_letters d SET publish_attempts = d.publish_attempts + 1, publish_error = x.error, "
            "relay_until = now() + least(power(2, least(d.publish_attempts + 1, 12)), 300) * interval '1 second' "
            "FROM jsonb_to_recordset($1::jsonb) AS x(id bigint, error text) WHERE d.id = x.id");
  c.prepare("relay_mark",
            "UPDATE dead_letters SET published_at = now() WHERE id IN "
            "(SELECT (jsonb_array_elements_text($1::jsonb))::bigint)");
}

Outbox::RelayResult PgStore::relay_dead_letters(std::size_t limit, const PublishFn& publish) {
  RelayResult out;
  guarded([&] {
    out = RelayResult{};
    pqxx::work tx(data_connection());
    // The due ids come from the unpublished index in id order, stopping at
    // the limit. A backlog builds up faster than autovacuum's statistics
    // follow it: estimating few unpublished rows, the planner would rather
    // collect all of them (a bitmap scan) and sort, at a cost that grows with
    // the backlog. Only for this transaction.
    tx.exec("SET LOCAL enable_bitmapscan = off");
    auto r = tx.exec_prepared("relay_select", static_cast<int64_t>(limit));
    if (r.empty()) return;
    std::vector<DeadLetterRecord> recs;
    recs.reserve(r.size());
    for (const auto& row : r) recs.push_back(record_from_row(row));
    out.selected = recs.size();
    const auto results = publish(recs);
    const auto plan = plan_relay(recs, results);
    if (plan.broker_failed) {
      out.broker_failed = true;
      return;  // rolls back: the rows stay as they were
    }
    if (plan.published > 0) tx.exec_prepared("relay_mark", plan.published_ids);
    if (plan.deferred > 0) tx.exec_prepared("relay_defer", plan.deferred_rows);
    tx.commit();
    out.published = plan.published;
    out.deferred = plan.deferred;
  });
  return out;
}

}  // namespace lockstep::postgres
