// Embedded store, the outbox relay. SQLite has no row locks (no FOR UPDATE SKIP
// LOCKED), and holding the database's write lock while publishing would stall
// every writer for as long as the broker takes. So the relay leases the rows
// instead: one short transaction marks up to `limit` unpublished, unleased rows
// as held by this store until now + kRelayLeaseSeconds; publish runs without
// any lock; a second transaction marks them published (publish returned true)
// or releases them (false or thrown). Concurrent relays never get the same row;
// a relay that died mid-publish leaves a lease that expires, and its rows are
// then published by the next relay (at least once, never lost).
#include <algorithm>
#include <climits>

#include "sqlite_store.hpp"

namespace lockstep::sqlite {
namespace {

// How long the outbox relay holds unpublished dead letters while it publishes
// them (DeadLetterRelay gives a publish 15 s). Another relay takes rows over
// only after that, e.g. when the holder died mid-publish.
constexpr int kRelayLeaseSeconds = 60;

}  // namespace

Outbox::RelayResult SqliteStore::relay_dead_letters(std::size_t limit, const PublishFn& publish) {
  std::string ids;
  const auto recs = lease_due(limit, ids);
  RelayResult out;
  if (recs.empty()) return out;
  out.selected = recs.size();

  std::vector<PublishResult> results;
  try {
    results = publish(recs);
  } catch (...) {
    release(ids);
    throw;
  }
  const auto plan = plan_relay(recs, results);
  if (plan.broker_failed) {
    release(ids);
    out.broker_failed = true;
    return out;
  }
  settle(plan);
  out.published = plan.published;
  out.deferred = plan.deferred;
  return out;
}

// Up to `limit` due rows, leased to this store; `ids` their ids as a JSON array.
std::vector<DeadLetterRecord> SqliteStore::lease_due(std::size_t limit, std::string& ids) {
  std::vector<DeadLetterRecord> recs;
  guarded([&] {
    recs.clear();
    Tx tx(*this);
    {
      auto s = stmt(std::string(kDeadLetterColumns) +
                    " WHERE published_at IS NULL AND (relay_until IS NULL OR relay_until < " + kNow +
                    ") ORDER BY id LIMIT ?1");
      s.bind(1, static_cast<int64_t>(std::min<std::size_t>(limit, INT64_MAX)));
      while (s.step()) recs.push_back(record_from_row(s));
    }
    if (recs.empty()) return;
    Json arr = Json::array();
    for (const auto& r : recs) arr.push_back(r.id);
    ids = arr.dump();
    auto s = stmt(std::string("UPDATE dead_letters SET relay_owner = ?1, relay_until = strftime('%Y-%m-%dT%H:%M:%fZ', "
                              "'now', '+") +
                  std::to_string(kRelayLeaseSeconds) + " seconds') WHERE id IN (SELECT value FROM json_each(?2))");
    s.bind(1, owner_).bind(2, ids).run();
    tx.commit();
  });
  return recs;
}

// The published rows marked so, the deferred ones given their backoff; both
// released.
void SqliteStore::settle(const RelayPlan& plan) {
  guarded([&] {
    Tx tx(*this);
    {
      auto s = stmt(std::string("UPDATE dead_letters SET published_at = coalesce(published_at, ") + kNow +
                    "), relay_owner = NULL, relay_until = NULL WHERE id IN (SELECT value FROM json_each(?1))");
      s.bind(1, plan.published_ids).run();
    }
    {
      // A deferred row is due again after 2^attempts seconds, at most 5 minutes.
      auto s = stmt(
          "UPDATE dead_letters SET publish_attempts = publish_attempts + 1, relay_owner = NULL, "
          "publish_error = (SELECT json_extract(j.value, '$.error') FROM json_each(?1) j "
          "                 WHERE json_extract(j.value, '$.id') = dead_letters.id), "
          "relay_until = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+' || min(1 << min(publish_attempts + 1, 12), 300) || "
          "' seconds') WHERE id IN (SELECT json_extract(value, '$.id') FROM json_each(?1))");
      s.bind(1, plan.deferred_rows).run();
    }
    tx.commit();
  });
}

// Publish failed: give the rows back at once (else the lease expires).
void SqliteStore::release(const std::string& ids) noexcept {
  try {
    Tx tx(*this);
    auto s = stmt("UPDATE dead_letters SET relay_owner = NULL, relay_until = NULL "
                  "WHERE relay_owner = ?1 AND id IN (SELECT value FROM json_each(?2))");
    s.bind(1, owner_).bind(2, ids).run();
    tx.commit();
  } catch (...) {
  }
}

}  // namespace lockstep::sqlite
