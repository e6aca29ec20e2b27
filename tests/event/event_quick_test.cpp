// EventParser: its quick path (simdjson) reads the common event, and on every
// input it agrees with parse_event: the fuzz seed corpus, edge cases of the
// quick path, and many mutations of valid events.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "lockstep/event.hpp"
#include "same_result.hpp"

namespace lockstep {
namespace {

const ParseLimits kLimitSets[] = {ParseLimits{}, ParseLimits{256, 64}, ParseLimits{1024 * 1024, 2},
                                  ParseLimits{1024 * 1024, 3}};

// The key the event's own fields give, when they can be read; else a fixed one.
std::optional<std::string> derived_key(std::string_view value) {
  try {
    const auto j = Json::parse(value);
    return j.at("aggregate_type").get<std::string>() + ":" + j.at("aggregate_id").get<std::string>();
  } catch (const std::exception&) {
    return std::string("membership:x");
  }
}

// The keys each input is tried with: its own, none, a wrong one, and its own
// with one byte changed (the separator, the last byte): as long as the right
// key, and still wrong.
std::vector<std::optional<std::string>> keys_for(std::string_view value) {
  const auto own = derived_key(value);
  std::vector<std::optional<std::string>> keys = {own, std::nullopt, std::string("x:y")};
  if (own && !own->empty()) {
    if (const auto colon = own->find(':'); colon != std::string::npos) {
      auto other = *own;
      other[colon] = '/';
      keys.push_back(other);
    }
    auto last = *own;
    last.back() = static_cast<char>(last.back() ^ 1);
    keys.push_back(last);
  }
  return keys;
}

// parse_event and EventParser agree on `value` with every key and limit set;
// returns how many of those the quick path took.
std::size_t expect_agreement(EventParser& parser, std::string_view value) {
  const auto before = parser.quick_count();
  for (const auto& limits : kLimitSets)
    for (const auto& key : keys_for(value))
      EXPECT_TRUE(test::same_result(parse_event(value, key, limits), parser.parse(value, key, limits)))
          << "input: " << value << "\nkey: " << key.value_or("(none)") << ", max_depth " << limits.max_depth
          << ", max_event_bytes " << limits.max_event_bytes;
  return parser.quick_count() - before;
}

const std::string kCommon =
    R"({"event_id":"e-1","aggregate_type":"membership","aggregate_id":"guild-1/user-9","transition":"verify",)"
    R"("expected_version":3,"payload":{"guild":"g-1","nick":"user9","score":17,"tags":["a","b"]},)"
    R"("actor":"bot","occurred_at":"2026-12-04T10:00:00Z","extra":{"x":[1,2,{"y":null}]}})";

TEST(EventQuickPath, TakesTheCommonEventAndAgrees) {
  EventParser parser;
  const auto r = parser.parse(kCommon, "membership:guild-1/user-9");
  EXPECT_EQ(parser.quick_count(), 1u);
  ASSERT_TRUE(std::holds_alternative<Event>(r));
  const auto& ev = std::get<Event>(r);
  EXPECT_EQ(ev.expected_version, 3);
  EXPECT_EQ(ev.payload->dump(), R"({"guild":"g-1","nick":"user9","score":17,"tags":["a","b"]})");
  EXPECT_GT(expect_agreement(parser, kCommon), 0u);
}

// Inputs where simdjson and nlohmann could differ: each must come out as parse_event says.
TEST(EventQuickPath, AgreesOnItsEdgeCases) {
  const std::string head = R"({"event_id":"e-1","aggregate_type":"membership","aggregate_id":"a","transition":"t")";
  const std::vector<std::string> tails = {
      R"(})",
      R"(,"payload":{"n":-0}})",
      R"(,"payload":{"n":-0.0,"m":1.5E+2,"k":1e308}})",
      R"(,"payload":{"n":1e400}})",
      R"(,"payload":{"n":18446744073709551615,"m":9223372036854775808,"k":-9223372036854775808}})",
      R"(,"payload":{"n":123456789012345678901234567890}})",
      R"(,"payload":{"a":1,"a":2}})",
      R"(,"payload":{"a":{"b":1,"b":1}}})",
      R"(,"payload":[{"a":1,"a":1}]})",
      R"(,"extra":{"a":1,"a":2}})",
      R"(,"extra":[[[[{"deep":true}]]]]})",
      R"(,"payload":{"a":{"b":{"c":{}}}}})",
      R"(,"transition":"u"})",
      R"(,"payload":{"s":"\u0000"}})",
      R"(,"payload":{"s":"\ud800"}})",
      R"(,"payload":{"s":"\"quoted\" and \\ and \/"}})",
      R"(,"actor":"\u00e9"})",
      R"(,"expected_version":0})",
      R"(,"expected_version":-0})",
      R"(,"expected_version":-1})",
      R"(,"expected_version":1.0})",
      R"(,"expected_version":9223372036854775807})",
      R"(,"expected_version":9223372036854775808})",
      R"(,"expected_version":null})",
      R"(,"expected_state":null})",
      R"(,"payload":null})",
      R"(,"payload":[]})",
      R"(,"actor":""})",
      R"(,"occurred_at":"0000-01-01T00:00:00Z"})",
      R"(,"occurred_at":"2026-02-30T00:00:00Z"})",
      R"(,"a1":1,"a2":2,"a3":3,"a4":4,"a5":5,"a6":6,"a7":7,"a8":8,"a9":9,"b1":1,"b2":2,"b3":3})",
      R"(,"payload":{"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k10":10,"k11":11,"k12":12,"k13":13,"k14":14,"k15":15,"k16":16,"k17":17}})",
      "}\n",
      "} x",
      "}\t ",
      R"(,"payload":{"s":"tab	inside"}})",
      "\xEF\xBB\xBF",
  };
  EventParser parser;
  for (const auto& tail : tails) expect_agreement(parser, head + tail);
  expect_agreement(parser, "\xEF\xBB\xBF" + head + "}");
  expect_agreement(parser, "[" + head + "}]");
  expect_agreement(parser, head + R"(,"event_id":"e-2"})");
  expect_agreement(parser, "");
  expect_agreement(parser, "{}");
}

// The fuzz target's seed corpus: every file's first byte selects the fuzzer's mode, the rest is the event.
TEST(EventQuickPath, AgreesOnTheFuzzCorpus) {
  const std::filesystem::path dir = std::filesystem::path(LOCKSTEP_SOURCE_DIR) / "fuzz/corpus/event";
  std::size_t files = 0;
  EventParser parser;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (content.empty()) continue;
    ++files;
    expect_agreement(parser, std::string_view(content).substr(1));
  }
  EXPECT_GE(files, 20u);
}

// Random edits of valid events, mostly the bytes JSON's structure is made of.
TEST(EventQuickPath, AgreesOnMutationsOfValidEvents) {
  const std::string seeds[] = {
      kCommon,
      R"({"event_id":"e-2","aggregate_type":"membership","aggregate_id":"u1","transition":"join","payload":{"guild":"g-1","nick":"user1"}})",
      R"({"event_id":"e-3","aggregate_type":"membership","aggregate_id":"u2","transition":"edit","expected_version":2,"payload":{"nick":"n5","score":7}})",
  };
  const std::string alphabet = "\"\\{}[],:0-1e.E+ ntfu\x01\x7f\xc3\xa9\xff";
  std::mt19937 rng(20261204);
  EventParser parser;
  std::size_t quick = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string v = seeds[static_cast<std::size_t>(i) % std::size(seeds)];
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < edits && !v.empty(); ++k) {
      const std::size_t at = rng() % v.size();
      const char c = alphabet[rng() % alphabet.size()];
      switch (rng() % 3) {
        case 0: v[at] = c; break;
        case 1: v.insert(v.begin() + static_cast<std::ptrdiff_t>(at), c); break;
        default: v.erase(at, 1 + rng() % 4); break;
      }
    }
    quick += expect_agreement(parser, v);
  }
  EXPECT_GT(quick, 0u) << "no mutation went through the quick path: the test compares nothing of it";
}

}  // namespace
}  // namespace lockstep
