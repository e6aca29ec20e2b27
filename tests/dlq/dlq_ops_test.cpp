// The dead-letter operations library (lockstep/dlq_ops.hpp) on a real PostgreSQL:
// selection, checks, replay (a Publish that records what it is given: Kafka is
// not the point here; dlq_cli_test publishes for real), discard, show.
#include "lockstep/dlq_ops.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "lockstep/test/dead_letters.hpp"
#include "lockstep/test/support.hpp"

namespace lockstep::dlq {
namespace {

using namespace std::chrono_literals;

// Records each message and answers partition 0, the next offset.
struct RecordingPublish {
  std::vector<OutMessage> sent;
  Publish fn() {
    return [this](const OutMessage& m) {
      sent.push_back(m);
      Delivery d;
      d.partition = 0;
      d.offset = static_cast<int64_t>(sent.size()) - 1;
      return d;
    };
  }
};

DeadLetterRecord letter(const std::string& event_id, const std::string& agg, const std::string& reason) {
  auto d = test::conflict_dead_letter(test::event(event_id, agg, "suspend").expected_version(1));
  d.reason = reason;
  if (reason == "malformed") {
    d.event.reset();
    d.raw = "{not json";
  }
  return d;
}

AppliedWrite step(const std::string& event_id, std::optional<std::string> from, const std::string& to, int64_t v) {
  AppliedWrite w;
  w.event_id = event_id;
  w.aggregate_type = "membership";
  w.aggregate_id = "g/u1";
  w.transition = from ? "advance" : "create";
  w.from_state = std::move(from);
  w.to_state = to;
  w.read_version = v;
  w.new_data = Json::object();
  w.src.topic = "transitions.api";
  return w;
}

class DlqOps : public ::testing::Test {
 protected:
  void SetUp() override {
    // membership g/u1 at version 3; dead letters c-1 (g/u1) and c-2 (g/u2) version_conflict,
    // m-1 malformed, i-1 (g/u1) invalid_transition.
    ASSERT_EQ(store->commit({step("a-1", std::nullopt, "pending", 0)}, {}).applied.at(0), WriteStatus::written);
    ASSERT_EQ(store->commit({step("a-2", "pending", "active", 1)}, {}).applied.at(0), WriteStatus::written);
    ASSERT_EQ(store->commit({step("a-3", "active", "suspended", 2)}, {}).applied.at(0), WriteStatus::written);
    ASSERT_EQ(store->import_dead_letters({letter("c-1", "g/u1", "version_conflict"),
                                          letter("c-2", "g/u2", "version_conflict"), letter("m-1", "g/u3", "malformed"),
                                          letter("i-1", "g/u1", "invalid_transition")}),
              std::vector<WriteStatus>(4, WriteStatus::written));
  }
  int64_t id_of(const std::string& event_id) const {
    return std::stoll(db.scalar("SELECT id FROM dead_letters WHERE event_id = '" + event_id + "'"));
  }
  std::string row(const std::string& event_id) const {
    return db.scalar("SELECT concat_ws('|', status, resolved_by, note, replay_event_id) FROM dead_letters "
                     "WHERE event_id = '" + event_id + "'");
  }
  long open_count() const { return std::stol(db.scalar("SELECT count(*) FROM dead_letters WHERE status = 'open'")); }
  static Selection ids(std::vector<int64_t> v) { return Selection{std::move(v), false, {}}; }
  static Selection all() { return Selection{{}, true, {}}; }
  ReplayRequest request(VersionMode mode = VersionMode::keep) const {
    ReplayRequest r;
    r.mode = mode;
    r.by = "tester";
    r.note = "fixed upstream";
    return r;
  }

  test::TestDb db;
  std::unique_ptr<Store> store = open_store(db.url());
  std::unique_ptr<Store> reader = open_store(db.url());
  RecordingPublish pub;
};

TEST_F(DlqOps, ReplayByIdsPublishesOnceAndRecordsWhoAndWhy) {
  const auto c1 = id_of("c-1");
  std::vector<std::string> progressed;
  const auto rep = replay(*store, *reader, ids({c1, c1}), request(), pub.fn(),
                          [&](const ItemResult& it) { progressed.push_back(it.status); });
  ASSERT_EQ(rep.items.size(), 1u) << "an id given twice is replayed once";
  const auto& it = rep.items[0];
  const std::string as = "c-1~replay-" + std::to_string(c1);
  EXPECT_EQ(it.id, c1);
  EXPECT_EQ(it.event_id, "c-1");
  EXPECT_EQ(it.reason, "version_conflict");
  EXPECT_EQ(it.status, "replayed");
  EXPECT_EQ(it.replay_event_id, as);
  EXPECT_EQ(it.topic, "transitions.api");
  EXPECT_EQ(it.partition, 0);
  EXPECT_EQ(it.offset, 0);
  EXPECT_EQ(progressed, std::vector<std::string>{"replayed"});
  ASSERT_EQ(pub.sent.size(), 1u);
  const auto ev = Json::parse(pub.sent[0].value);
  EXPECT_EQ(ev["event_id"], as);
  EXPECT_EQ(ev["replay_of"], "c-1");
  EXPECT_EQ(ev["expected_version"], 1) << "keep: unchanged";
  EXPECT_EQ(row("c-1"), "replayed|tester|fixed upstream|" + as);
  const auto shown = show(*store, *reader, c1);
  EXPECT_EQ(shown["status"], "replayed");
  EXPECT_EQ(shown["replay"]["event_id"], as);
  EXPECT_TRUE(shown["replay"]["outcome"].is_null()) << "not processed yet";
  EXPECT_THROW(show(*store, *reader, 999999), NotFound);
}

TEST_F(DlqOps, RebaseExpectsTheCurrentVersion) {
  const auto rep = replay(*store, *reader, ids({id_of("c-1")}), request(VersionMode::rebase), pub.fn());
  ASSERT_EQ(rep.items.size(), 1u);
  ASSERT_EQ(pub.sent.size(), 1u);
  EXPECT_EQ(Json::parse(pub.sent[0].value)["expected_version"], 3) << "g/u1 is at version 3 now";
}

TEST_F(DlqOps, ReplayByFilterTakesEveryOpenReplayableMatchAndCountsTheRest) {
  ASSERT_NO_THROW(discard(*store, ids({id_of("i-1")}), "tester", "duplicate", false));
  const auto rep = replay(*store, *reader, all(), request(), pub.fn());
  std::vector<std::string> events;
  for (const auto& it : rep.items) events.push_back(it.event_id + ":" + it.status);
  EXPECT_EQ(events, (std::vector<std::string>{"c-1:replayed", "c-2:replayed"})) << "i-1 is discarded already";
  EXPECT_EQ(rep.skipped, 1u) << "m-1 is malformed";
  EXPECT_EQ(pub.sent.size(), 2u);
  EXPECT_EQ(open_count(), 1);  // m-1

  Selection by_reason = all();
  by_reason.filter.reason = "version_conflict";
  EXPECT_TRUE(replay(*store, *reader, by_reason, request(), pub.fn()).items.empty()) << "none open any more";
}

TEST_F(DlqOps, DryRunChangesNothing) {
  auto r = request(VersionMode::rebase);
  r.dry_run = true;
  Selection conflicts = all();
  conflicts.filter.reason = "version_conflict";
  const auto rep = replay(*store, *reader, conflicts, r, pub.fn());
  ASSERT_EQ(rep.items.size(), 2u);
  EXPECT_EQ(rep.items[0].status, "would_replay");
  EXPECT_EQ(rep.items[0].replay_event_id, "c-1~replay-" + std::to_string(id_of("c-1")));
  EXPECT_FALSE(rep.items[0].partition.has_value());
  const auto d = discard(*store, all(), "tester", "clean up", true);
  ASSERT_EQ(d.items.size(), 4u);
  EXPECT_EQ(d.items[3].status, "would_discard");
  EXPECT_TRUE(pub.sent.empty());
  EXPECT_EQ(open_count(), 4);
}

TEST_F(DlqOps, DiscardNeedsANoteAndRecordsIt) {
  try {
    discard(*store, ids({id_of("c-1")}), "tester", " \t", false);
    FAIL() << "a blank note was taken";
  } catch (const InvalidInput& e) {
    EXPECT_EQ(e.field(), "note");
  }
  EXPECT_EQ(open_count(), 4);
  const auto rep = discard(*store, ids({id_of("c-1")}), "tester", "stale", false);
  ASSERT_EQ(rep.items.size(), 1u);
  EXPECT_EQ(rep.items[0].status, "discarded");
  EXPECT_EQ(row("c-1"), "discarded|tester|stale");
}

TEST_F(DlqOps, ResolvedIsConflictUnknownIsNotFoundAndNothingIsDoneFirst) {
  const auto c1 = id_of("c-1"), c2 = id_of("c-2");
  discard(*store, ids({c1}), "tester", "stale", false);
  EXPECT_THROW(replay(*store, *reader, ids({c2, c1}), request(), pub.fn()), Conflict);
  EXPECT_THROW(discard(*store, ids({c2, c1}), "tester", "again", false), Conflict);
  EXPECT_THROW(replay(*store, *reader, ids({id_of("m-1")}), request(), pub.fn()), Conflict) << "malformed";
  EXPECT_THROW(replay(*store, *reader, ids({id_of("i-1")}), request(VersionMode::rebase), pub.fn()), Conflict);
  EXPECT_THROW(replay(*store, *reader, ids({c2, 999999}), request(), pub.fn()), NotFound);
  EXPECT_TRUE(pub.sent.empty());
  EXPECT_EQ(row("c-2"), "open") << "checked before anything was done";
}

TEST_F(DlqOps, InvalidInputNamesTheField) {
  const auto field = [](const std::function<void()>& f) {
    try {
      f();
    } catch (const InvalidInput& e) {
      return e.field();
    }
    return std::string("<accepted>");
  };
  const auto now = std::chrono::system_clock::now();
  EXPECT_EQ(field([&] { parse_filter({"closed", {}, {}, {}, {}, {}}, now); }), "status");
  EXPECT_EQ(field([&] { parse_filter({{}, "oops", {}, {}, {}, {}}, now); }), "reason");
  EXPECT_EQ(field([&] { parse_filter({{}, {}, {}, "g/u1", {}, {}}, now); }), "aggregate_id");
  EXPECT_EQ(field([&] { parse_filter({{}, {}, {}, {}, "yesterday", {}}, now); }), "since");
  EXPECT_EQ(field([&] { parse_filter({{}, {}, {}, {}, {}, "2026-13-40"}, now); }), "until");
  EXPECT_EQ(field([&] { parse_filter({"open", "malformed", "membership", "g/u1", "2h", "2026-11-23"}, now); }),
            "<accepted>");
  EXPECT_EQ(field([&] { check_replay(Selection{}, request()); }), "ids");
  EXPECT_EQ(field([&] { check_replay(Selection{{1}, true, {}}, request()); }), "ids");
  EXPECT_EQ(field([&] { check_replay(all(), request(VersionMode::rebase)); }), "mode");
  Selection replayed = all();
  replayed.filter.status = "replayed";
  EXPECT_EQ(field([&] { check_discard(replayed, "tester", "x"); }), "status");
  auto r = request();
  r.topic = "bad topic!";
  EXPECT_EQ(field([&] { check_replay(ids({1}), r); }), "topic");
  r = request();
  r.by = "";
  EXPECT_EQ(field([&] { check_replay(ids({1}), r); }), "by");
}

TEST_F(DlqOps, PublishFailureRecordsNothing) {
  const Publish failing = [](const OutMessage&) -> Delivery { throw KafkaError("broker down"); };
  try {
    replay(*store, *reader, ids({id_of("c-1")}), request(), failing);
    FAIL() << "a failed publish was taken as done";
  } catch (const KafkaError& e) {
    EXPECT_NE(std::string(e.what()).find("broker down"), std::string::npos) << e.what();
  }
  EXPECT_EQ(row("c-1"), "open");
}

// Lets every party read its dead letters before any goes on, so two operators
// both see the row open and race for it.
class GatedAdmin : public DeadLetterAdmin {
 public:
  GatedAdmin(DeadLetterAdmin& inner, std::atomic<int>& arrived) : inner_(inner), arrived_(arrived) {}
  std::vector<DeadLetterRecord> list_dead_letters(const DeadLetterFilter& f) override { return inner_.list_dead_letters(f); }
  std::optional<DeadLetterRecord> get_dead_letter(int64_t id) override {
    auto d = inner_.get_dead_letter(id);
    ++arrived_;
    EXPECT_TRUE(test::poll_until(30s, [&] { return arrived_.load() >= 2; }));
    return d;
  }
  bool resolve_dead_letter(int64_t id, const Resolution& r,
                           const std::function<bool(const DeadLetterRecord&)>& act) override {
    return inner_.resolve_dead_letter(id, r, act);
  }
  std::vector<WriteStatus> import_dead_letters(const std::vector<DeadLetterRecord>& recs) override {
    return inner_.import_dead_letters(recs);
  }

 private:
  DeadLetterAdmin& inner_;
  std::atomic<int>& arrived_;
};

TEST_F(DlqOps, TwoConcurrentDiscardsOfOneIdOneWinsOneIsLost) {
  const auto c1 = id_of("c-1");
  std::atomic<int> arrived{0};
  std::vector<std::string> status(2);
  auto op = [&](int i) {
    auto s = open_store(db.url());
    GatedAdmin gated(*s, arrived);
    try {
      const auto rep = discard(gated, ids({c1}), "op-" + std::to_string(i), "race", false);
      status[static_cast<std::size_t>(i)] = rep.items.at(0).status;
    } catch (const std::exception& e) {
      status[static_cast<std::size_t>(i)] = std::string("threw: ") + e.what();
    }
  };
  std::thread a(op, 0), b(op, 1);
  a.join();
  b.join();
  std::sort(status.begin(), status.end());
  EXPECT_EQ(status, (std::vector<std::string>{"discarded", "lost"}));
  EXPECT_EQ(db.scalar("SELECT count(*) FROM dead_letters WHERE status = 'discarded'"), "1");
}

}  // namespace
}  // namespace lockstep::dlq
