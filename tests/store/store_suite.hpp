// The store's suites (one file per role: schema, outcomes, dead letters and
// operators, the outbox, errors; SQLite-only cases apart), each run on both
// backends: PostgreSQL (a real server, LOCKSTEP_TEST_DATABASE_URL) and the
// embedded SQLite store (a temp file). Each test runs on its own fresh
// database. Where a query is dialect-specific both spellings are given; what
// only one backend has is tested on that one. This header: the fixture and
// the builders they share.
#pragma once

#include <gtest/gtest.h>

#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <cstdio>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "lockstep/store.hpp"
#include "lockstep/test/store_db.hpp"
#include "lockstep/test/support.hpp"

namespace lockstep::store_suite {

using test::Backend;
using test::TestDb;
using test::TestStoreDb;

class StoreTest : public ::testing::TestWithParam<Backend> {};
using StoreMigrations = StoreTest;
using StoreCommit = StoreTest;
using StoreRead = StoreTest;
using StoreDeadLetters = StoreTest;
using StoreRelay = StoreTest;
using StoreOperators = StoreTest;
using StoreErrors = StoreTest;

inline constexpr const char* kType = "order";

inline SourceRef src(int64_t offset, int32_t partition = 2) {
  SourceRef s;
  s.topic = "lockstep.events";
  s.source = "orders";
  s.partition = partition;
  s.offset = offset;
  s.timestamp_ms = 1714564800123;
  return s;
}

inline AppliedWrite write(const std::string& event_id, const std::string& id, std::optional<std::string> from,
                   const std::string& to, int64_t read_version, Json data, int64_t offset = 0) {
  AppliedWrite w;
  w.event_id = event_id;
  w.aggregate_type = kType;
  w.aggregate_id = id;
  w.transition = from ? "advance" : "create";
  w.from_state = std::move(from);
  w.to_state = to;
  w.read_version = read_version;
  w.new_data = std::move(data);
  w.actor = "alice";
  w.occurred_at = "2024-05-01T12:00:00Z";
  w.src = src(offset);
  return w;
}

inline AppliedWrite create(const std::string& event_id, const std::string& id, Json data = Json::object()) {
  return write(event_id, id, std::nullopt, "pending", 0, std::move(data));
}

inline DeadLetterWrite dead(const std::string& event_id, DeadReason reason = DeadReason::malformed,
                     std::optional<std::string> agg_id = std::nullopt) {
  DeadLetterWrite d;
  d.event_id = event_id;
  d.reason = reason;
  d.detail = "detail of " + event_id;
  if (agg_id) {
    d.aggregate_type = kType;
    d.aggregate_id = agg_id;
  }
  d.raw = "{\"event_id\":\"" + event_id + "\"}";
  d.src = src(100);
  d.consumer_group = "lockstep-test";
  d.attempts = 1;
  return d;
}

inline long count(const TestStoreDb& db, const std::string& sql) { return std::stol(db.scalar(sql)); }

// The aggregate's data as text: jsonb's own rendering on PostgreSQL, the stored JSON on SQLite.
inline std::string data_text(const TestStoreDb& db) { return db.sql("data::text", "data"); }

inline bool table_exists(const TestStoreDb& db, const std::string& table) {
  return db.scalar(db.sql("SELECT to_regclass('" + table + "') IS NOT NULL",
                          "SELECT count(*) = 1 FROM sqlite_master WHERE type = 'table' AND name = '" + table + "'")) ==
         db.yes();
}

inline bool is_utc_rfc3339_ms(const std::string& s) {
  static const std::regex re(R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$)");
  return std::regex_match(s, re);
}

// Binary bytes: NUL, invalid UTF-8 (lone continuation, 0xFF, truncated sequence).
inline std::string binary_bytes() {
  std::string s = "raw:";
  s.push_back('\0');
  s.push_back(static_cast<char>(0xFF));
  s.push_back(static_cast<char>(0xFE));
  s.push_back(static_cast<char>(0x80));
  s += "{not json";
  s.push_back('\0');
  s.push_back(static_cast<char>(0xC3));  // truncated 2-byte sequence at the end
  return s;
}

// The database invariants of lockstep::verify that apply to the writes these
// tests make up: no machine is given and their offsets are made up, so the
// "allowed by its state machine" and "in offset order" checks are left out.
inline std::vector<std::string> store_invariant_violations(const TestStoreDb& db) {
  std::vector<std::string> out;
  for (auto& v : test::invariant_violations(db, MachineSet{}))
    if (v.find("allowed by its state machine") == std::string::npos && v.find("in offset order") == std::string::npos)
      out.push_back(std::move(v));
  return out;
}

// The event ids of dead letters, in their order.
inline std::vector<std::string> event_ids(const std::vector<DeadLetterRecord>& v) {
  std::vector<std::string> out;
  for (const auto& d : v) out.push_back(d.event_id);
  return out;
}


}  // namespace lockstep::store_suite
