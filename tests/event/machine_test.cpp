// State machines and decide() (docs/machines.md, docs/event.md "Outcomes") against the membership machine.
#include "lockstep/machine.hpp"

#include <gtest/gtest.h>

#include <string>

namespace lockstep {
namespace {

MachineSet membership_machines() {
  Machine m;
  m.transitions["join"] = Transition{{"new"}, "pending"};
  m.transitions["verify"] = Transition{{"pending"}, "verified"};
  m.transitions["activate"] = Transition{{"verified"}, "active"};
  m.transitions["suspend"] = Transition{{"active"}, "suspended"};
  m.transitions["reinstate"] = Transition{{"suspended"}, "active"};
  m.transitions["remove"] = Transition{{"pending", "verified", "active", "suspended"}, "removed"};
  m.transitions["rejoin"] = Transition{{"removed"}, "pending"};
  m.transitions["override"] = Transition{{"*"}, "active"};
  m.transitions["edit"] = Transition{{"*"}, std::nullopt};
  return MachineSet{{"membership", m}};
}

Event event(const std::string& transition) {
  Event e;
  e.event_id = "e-1";
  e.aggregate_type = "membership";
  e.aggregate_id = "guild-1/user-9";
  e.transition = transition;
  return e;
}

Snapshot missing() { return Snapshot{}; }

Snapshot stored(const std::string& state, int64_t version, Json data = Json::object()) {
  Snapshot s;
  s.exists = true;
  s.state = state;
  s.version = version;
  s.data = std::move(data);
  s.updated_at = "2024-05-01 12:00:00+00";
  s.updated_by = "api";
  return s;
}

Apply expect_apply(const Decision& d) {
  if (const auto* a = std::get_if<Apply>(&d)) return *a;
  ADD_FAILURE() << "expected Apply, got Reject " << to_string(std::get<Reject>(d).reason) << ": "
                << std::get<Reject>(d).detail;
  return Apply{};
}

Reject expect_reject(const Decision& d, DeadReason reason) {
  if (const auto* r = std::get_if<Reject>(&d)) {
    EXPECT_EQ(r->reason, reason) << "got " << to_string(r->reason) << ": " << r->detail;
    return *r;
  }
  ADD_FAILURE() << "expected Reject " << to_string(reason) << ", got Apply";
  return Reject{};
}

bool contains(const std::string& h, const std::string& n) { return h.find(n) != std::string::npos; }

const MachineSet kMachines = membership_machines();

// ---------------------------------------------------------------- DeadReason

TEST(DeadReason, RoundTrip) {
  EXPECT_STREQ(to_string(DeadReason::malformed), "malformed");
  EXPECT_STREQ(to_string(DeadReason::unknown_transition), "unknown_transition");
  EXPECT_STREQ(to_string(DeadReason::version_conflict), "version_conflict");
  EXPECT_STREQ(to_string(DeadReason::invalid_transition), "invalid_transition");
  EXPECT_STREQ(to_string(DeadReason::retries_exhausted), "retries_exhausted");
  for (const auto r : {DeadReason::malformed, DeadReason::unknown_transition,
                       DeadReason::version_conflict, DeadReason::invalid_transition,
                       DeadReason::retries_exhausted}) {
    EXPECT_EQ(dead_reason_from_string(to_string(r)), r);
  }
  EXPECT_FALSE(dead_reason_from_string(""));
  EXPECT_FALSE(dead_reason_from_string("Malformed"));
  EXPECT_FALSE(dead_reason_from_string("malformed "));
  EXPECT_FALSE(dead_reason_from_string("applied"));
}

// ---------------------------------------------------------------- transition_allowed

TEST(TransitionAllowed, MembershipTable) {
  const Machine& m = kMachines.at("membership");
  struct Case {
    const char* transition;
    bool exists;
    const char* state;
    bool allowed;
  };
  const Case cases[] = {
      {"join", false, "", true},          {"join", true, "pending", false},
      {"join", true, "removed", false},   {"verify", true, "pending", true},
      {"verify", true, "active", false},  {"verify", false, "", false},
      {"activate", true, "verified", true}, {"activate", true, "pending", false},
      {"suspend", true, "active", true},  {"suspend", true, "suspended", false},
      {"reinstate", true, "suspended", true}, {"reinstate", true, "active", false},
      {"remove", true, "pending", true},  {"remove", true, "verified", true},
      {"remove", true, "active", true},   {"remove", true, "suspended", true},
      {"remove", true, "removed", false}, {"remove", false, "", false},
      {"rejoin", true, "removed", true},  {"rejoin", true, "active", false},
      {"rejoin", false, "", false},       {"override", true, "removed", true},
      {"override", true, "pending", true}, {"override", false, "", false},
      {"edit", true, "suspended", true},  {"edit", false, "", false},
      {"nope", false, "", false},         {"nope", true, "active", false},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(transition_allowed(m, c.transition, c.exists, c.state), c.allowed)
        << c.transition << " exists=" << c.exists << " state=" << c.state;
  }
}

TEST(TransitionAllowed, NewAndStarSemantics) {
  Machine m;
  m.transitions["upsert"] = Transition{{"new", "*"}, "x"};
  EXPECT_TRUE(transition_allowed(m, "upsert", false, ""));
  EXPECT_TRUE(transition_allowed(m, "upsert", true, "anything"));
  m.transitions["star"] = Transition{{"*"}, "x"};
  EXPECT_FALSE(transition_allowed(m, "star", false, ""));
}

// ---------------------------------------------------------------- decide: unknown

TEST(Decide, UnknownAggregateType) {
  Event e = event("join");
  e.aggregate_type = "billing";
  const Reject r = expect_reject(decide(kMachines, e, missing()), DeadReason::unknown_transition);
  EXPECT_TRUE(contains(r.detail, "billing")) << r.detail;
}

TEST(Decide, UnknownTransition) {
  const Reject r =
      expect_reject(decide(kMachines, event("promote"), stored("active", 2)),
                    DeadReason::unknown_transition);
  EXPECT_TRUE(contains(r.detail, "promote")) << r.detail;
  expect_reject(decide(kMachines, event(""), missing()), DeadReason::unknown_transition);
}

TEST(Decide, UnknownTransitionWinsOverVersionConflict) {
  Event e = event("promote");
  e.expected_version = 99;
  expect_reject(decide(kMachines, e, stored("active", 2)), DeadReason::unknown_transition);
}

TEST(Decide, EmptyMachineSet) {
  expect_reject(decide(MachineSet{}, event("join"), missing()), DeadReason::unknown_transition);
}

// ---------------------------------------------------------------- decide: version

TEST(Decide, VersionConflict) {
  Event e = event("suspend");
  e.expected_version = 3;
  const Reject r =
      expect_reject(decide(kMachines, e, stored("active", 5)), DeadReason::version_conflict);
  EXPECT_EQ(r.detail, "expected version 3, stored version 5");
}

TEST(Decide, ExpectedVersionZeroMeansMustNotExist) {
  Event e = event("join");
  e.expected_version = 0;
  expect_apply(decide(kMachines, e, missing()));
  e = event("override");
  e.expected_version = 0;
  const Reject r =
      expect_reject(decide(kMachines, e, stored("pending", 1)), DeadReason::version_conflict);
  EXPECT_EQ(r.detail, "expected version 0, stored version 1");
}

TEST(Decide, ExpectedVersionOnMissingAggregate) {
  Event e = event("join");
  e.expected_version = 1;
  const Reject r = expect_reject(decide(kMachines, e, missing()), DeadReason::version_conflict);
  EXPECT_EQ(r.detail, "expected version 1, stored version 0");
}

TEST(Decide, MatchingVersionApplies) {
  Event e = event("suspend");
  e.expected_version = 5;
  const Apply a = expect_apply(decide(kMachines, e, stored("active", 5)));
  EXPECT_EQ(a.read_version, 5);
  EXPECT_EQ(a.to_state, "suspended");
}

TEST(Decide, VersionConflictWinsOverInvalidTransition) {
  Event e = event("verify");
  e.expected_version = 1;
  expect_reject(decide(kMachines, e, stored("active", 4)), DeadReason::version_conflict);
}

// ---------------------------------------------------------------- decide: state

TEST(Decide, ExpectedStateMismatch) {
  Event e = event("remove");
  e.expected_state = "pending";
  const Reject r =
      expect_reject(decide(kMachines, e, stored("active", 3)), DeadReason::invalid_transition);
  EXPECT_TRUE(contains(r.detail, "pending")) << r.detail;
  EXPECT_TRUE(contains(r.detail, "active")) << r.detail;
}

TEST(Decide, ExpectedStateMatches) {
  Event e = event("remove");
  e.expected_state = "active";
  EXPECT_EQ(expect_apply(decide(kMachines, e, stored("active", 3))).to_state, "removed");
}

TEST(Decide, ExpectedStateOnMissingAggregate) {
  Event e = event("join");
  e.expected_state = "new";
  expect_reject(decide(kMachines, e, missing()), DeadReason::invalid_transition);
  e.expected_state = "";
  expect_reject(decide(kMachines, e, missing()), DeadReason::invalid_transition);
}

TEST(Decide, TransitionNotAllowedFromState) {
  const Reject r = expect_reject(decide(kMachines, event("verify"), stored("active", 3)),
                                 DeadReason::invalid_transition);
  EXPECT_EQ(r.detail, "transition 'verify' not allowed from state 'active'");
}

TEST(Decide, TransitionNotAllowedOnMissingAggregate) {
  const Reject r =
      expect_reject(decide(kMachines, event("verify"), missing()), DeadReason::invalid_transition);
  EXPECT_EQ(r.detail, "transition 'verify' not allowed from state 'new'");
}

TEST(Decide, JoinOnExistingAggregateIsInvalid) {
  expect_reject(decide(kMachines, event("join"), stored("pending", 1)),
                DeadReason::invalid_transition);
}

TEST(Decide, StarDoesNotMatchMissingAggregate) {
  expect_reject(decide(kMachines, event("override"), missing()), DeadReason::invalid_transition);
  expect_reject(decide(kMachines, event("edit"), missing()), DeadReason::invalid_transition);
}

TEST(Decide, CreatingTransitionWithoutTargetIsInvalid) {
  MachineSet ms = kMachines;
  ms["membership"].transitions["touch"] = Transition{{"new", "*"}, std::nullopt};
  const Reject r =
      expect_reject(decide(ms, event("touch"), missing()), DeadReason::invalid_transition);
  EXPECT_TRUE(contains(r.detail, "no target state")) << r.detail;
  // On an existing aggregate it is a plain edit.
  EXPECT_EQ(expect_apply(decide(ms, event("touch"), stored("active", 2))).to_state, "active");
}

// ---------------------------------------------------------------- decide: apply

TEST(Decide, JoinCreates) {
  Event e = event("join");
  e.payload = Json{{"nick", "ann"}};
  const Apply a = expect_apply(decide(kMachines, e, missing()));
  EXPECT_FALSE(a.from_state);
  EXPECT_EQ(a.to_state, "pending");
  EXPECT_EQ(a.read_version, 0);
  EXPECT_EQ(a.new_data, (Json{{"nick", "ann"}}));
}

TEST(Decide, JoinWithoutPayloadGivesEmptyObject) {
  const Apply a = expect_apply(decide(kMachines, event("join"), missing()));
  EXPECT_TRUE(a.new_data.is_object());
  EXPECT_TRUE(a.new_data.empty());
}

TEST(Decide, FullLifecycle) {
  Snapshot s = missing();
  for (const auto& [t, to] : std::vector<std::pair<std::string, std::string>>{
           {"join", "pending"},
           {"verify", "verified"},
           {"activate", "active"},
           {"suspend", "suspended"},
           {"reinstate", "active"},
           {"edit", "active"},
           {"remove", "removed"},
           {"rejoin", "pending"},
           {"override", "active"}}) {
    Event e = event(t);
    e.expected_version = s.exists ? s.version : 0;
    const Apply a = expect_apply(decide(kMachines, e, s));
    EXPECT_EQ(a.to_state, to) << t;
    EXPECT_EQ(a.read_version, s.exists ? s.version : 0) << t;
    if (s.exists) {
      EXPECT_EQ(a.from_state, s.state) << t;
    } else {
      EXPECT_FALSE(a.from_state) << t;
    }
    s = stored(a.to_state, a.read_version + 1, a.new_data);
  }
  EXPECT_EQ(s.version, 9);
}

TEST(Decide, EditKeepsState) {
  Event e = event("edit");
  e.payload = Json{{"nick", "bob"}};
  const Apply a = expect_apply(decide(kMachines, e, stored("suspended", 7, {{"nick", "ann"}})));
  EXPECT_EQ(a.from_state, "suspended");
  EXPECT_EQ(a.to_state, "suspended");
  EXPECT_EQ(a.read_version, 7);
  EXPECT_EQ(a.new_data, (Json{{"nick", "bob"}}));
}

TEST(Decide, OverrideFromAnyExistingState) {
  for (const char* st : {"pending", "verified", "active", "suspended", "removed", "custom"}) {
    const Apply a = expect_apply(decide(kMachines, event("override"), stored(st, 2)));
    EXPECT_EQ(a.from_state, st);
    EXPECT_EQ(a.to_state, "active");
  }
}

TEST(Decide, MergePatchSemantics) {
  const Json data = {{"nick", "ann"},
                     {"roles", {"a", "b"}},
                     {"profile", {{"city", "Oslo"}, {"age", 30}, {"tags", {{"x", 1}}}}},
                     {"keep", true}};
  Event e = event("edit");
  e.payload = Json::parse(R"({
      "nick": null,
      "roles": ["c"],
      "profile": {"age": null, "zip": "0150", "tags": {"y": 2}},
      "new": {"deep": {"k": null, "v": 1}},
      "missing_deleted": null
  })");
  const Apply a = expect_apply(decide(kMachines, e, stored("active", 3, data)));
  const Json expected = Json::parse(R"({
      "roles": ["c"],
      "profile": {"city": "Oslo", "zip": "0150", "tags": {"x": 1, "y": 2}},
      "keep": true,
      "new": {"deep": {"v": 1}}
  })");
  EXPECT_EQ(a.new_data, expected);
}

TEST(Decide, MergePatchReplacesNonObjectWithObject) {
  Event e = event("edit");
  e.payload = Json{{"a", {{"b", 1}}}};
  const Apply a = expect_apply(decide(kMachines, e, stored("active", 1, {{"a", "scalar"}})));
  EXPECT_EQ(a.new_data, (Json{{"a", {{"b", 1}}}}));
}

TEST(Decide, NullOrNonObjectDataStartsFromEmptyObject) {
  Event e = event("edit");
  e.payload = Json{{"a", 1}, {"gone", nullptr}};
  for (const Json& data : {Json(nullptr), Json::array({1, 2}), Json("text"), Json(5)}) {
    const Apply a = expect_apply(decide(kMachines, e, stored("active", 1, data)));
    EXPECT_EQ(a.new_data, (Json{{"a", 1}})) << data.dump();
  }
  const Apply none = expect_apply(decide(kMachines, event("edit"), stored("active", 1, nullptr)));
  EXPECT_EQ(none.new_data, Json::object());
}

TEST(Decide, NoPayloadKeepsData) {
  const Json data = {{"nick", "ann"}, {"n", 1}};
  const Apply a = expect_apply(decide(kMachines, event("suspend"), stored("active", 4, data)));
  EXPECT_EQ(a.new_data, data);
}

TEST(Decide, EmptyPayloadKeepsData) {
  const Json data = {{"nick", "ann"}};
  Event e = event("edit");
  e.payload = Json::object();
  EXPECT_EQ(expect_apply(decide(kMachines, e, stored("active", 4, data))).new_data, data);
}

TEST(Decide, DoesNotMutateSnapshot) {
  const Snapshot s = stored("active", 4, {{"nick", "ann"}});
  Event e = event("edit");
  e.payload = Json{{"nick", nullptr}};
  (void)decide(kMachines, e, s);
  EXPECT_EQ(s.data, (Json{{"nick", "ann"}}));
}

TEST(Decide, SeveralMachines) {
  MachineSet ms = kMachines;
  Machine doc;
  doc.transitions["create"] = Transition{{"new"}, "draft"};
  doc.transitions["publish"] = Transition{{"draft"}, "published"};
  ms["document"] = doc;
  Event e = event("create");
  e.aggregate_type = "document";
  EXPECT_EQ(expect_apply(decide(ms, e, missing())).to_state, "draft");
  e.transition = "join";  // exists in membership only
  expect_reject(decide(ms, e, missing()), DeadReason::unknown_transition);
}

TEST(Decide, DetailsAreShortForHugeNames) {
  Event e = event(std::string(5000, 'x'));
  const Reject r = expect_reject(decide(kMachines, e, missing()), DeadReason::unknown_transition);
  EXPECT_LT(r.detail.size(), 200u) << r.detail;
}

}  // namespace
}  // namespace lockstep
