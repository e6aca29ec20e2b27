// parse_event and its helpers (docs/event.md); every case also through EventParser.
#include "lockstep/event.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>

#include "same_result.hpp"

namespace lockstep {
namespace {

// parse_event's result, checked against EventParser's: its quick path must
// accept only what parse_event accepts, with the same fields.
ParseResult parse_both(std::string_view value, const std::optional<std::string>& key,
                       const ParseLimits& limits = {}) {
  auto careful = parse_event(value, key, limits);
  EventParser parser;
  EXPECT_TRUE(test::same_result(careful, parser.parse(value, key, limits)));
  return careful;
}

const std::string kKey = "membership:guild-1/user-9";

Json base_event() {
  return Json{{"event_id", "e-1"},
              {"aggregate_type", "membership"},
              {"aggregate_id", "guild-1/user-9"},
              {"transition", "join"}};
}

std::string key_of(const Json& j) {
  auto str = [&j](const char* name) {
    const auto it = j.find(name);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  return str("aggregate_type") + ":" + str("aggregate_id");
}

ParseResult parse_json(const Json& j, const ParseLimits& limits = {}) {
  return parse_both(j.dump(), key_of(j), limits);
}

// Asserts `r` is Malformed and returns it.
Malformed expect_malformed(const ParseResult& r) {
  if (const auto* m = std::get_if<Malformed>(&r)) return *m;
  ADD_FAILURE() << "expected Malformed, got an Event";
  return Malformed{};
}

Event expect_event(const ParseResult& r) {
  if (const auto* e = std::get_if<Event>(&r)) return *e;
  ADD_FAILURE() << "expected Event, got Malformed: " << std::get<Malformed>(r).detail;
  return Event{};
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

#define EXPECT_MALFORMED_WITH(result, needle)                                     \
  do {                                                                            \
    const Malformed m_ = expect_malformed(result);                                \
    EXPECT_TRUE(contains(m_.detail, needle)) << "detail: " << m_.detail;          \
  } while (0)

// A string of n copies of `unit`.
std::string repeat(const std::string& unit, std::size_t n) {
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += unit;
  return s;
}

// ---------------------------------------------------------------- happy path

TEST(ParseEvent, MinimalEvent) {
  const Event e = expect_event(parse_json(base_event()));
  EXPECT_EQ(e.event_id, "e-1");
  EXPECT_EQ(e.aggregate_type, "membership");
  EXPECT_EQ(e.aggregate_id, "guild-1/user-9");
  EXPECT_EQ(e.transition, "join");
  EXPECT_EQ(e.key(), kKey);
  EXPECT_FALSE(e.expected_version);
  EXPECT_FALSE(e.expected_state);
  EXPECT_FALSE(e.payload);
  EXPECT_FALSE(e.actor);
  EXPECT_FALSE(e.occurred_at);
}

TEST(ParseEvent, AllFields) {
  Json j = base_event();
  j["expected_version"] = 3;
  j["expected_state"] = "pending";
  j["payload"] = Json{{"nick", "ann"}, {"roles", {1, 2}}};
  j["actor"] = "bot:42";
  j["occurred_at"] = "2024-05-01T12:00:00.5Z";
  const Event e = expect_event(parse_json(j));
  EXPECT_EQ(e.expected_version, 3);
  EXPECT_EQ(e.expected_state, "pending");
  ASSERT_TRUE(e.payload);
  EXPECT_EQ(*e.payload, (Json{{"nick", "ann"}, {"roles", {1, 2}}}));
  EXPECT_EQ(e.actor, "bot:42");
  EXPECT_EQ(e.occurred_at, "2024-05-01T12:00:00.5Z");
}

TEST(ParseEvent, UnknownFieldsAreIgnored) {
  Json j = base_event();
  j["extra"] = Json{{"x", 1}};
  j["other"] = nullptr;
  j["trace_id"] = "abc";
  expect_event(parse_json(j));
}

TEST(ParseEvent, SurroundingWhitespaceIsAccepted) {
  const std::string v = "  \n" + base_event().dump() + "\n\t ";
  expect_event(parse_both(v, kKey));
}

TEST(ParseEvent, ByteOrderMarkIsMalformed) {
  const std::string v = "\xEF\xBB\xBF" + base_event().dump();
  EXPECT_MALFORMED_WITH(parse_both(v, kKey), "byte order mark");
}

TEST(ParseEvent, EmptyPayloadObjectIsPresent) {
  Json j = base_event();
  j["payload"] = Json::object();
  const Event e = expect_event(parse_json(j));
  ASSERT_TRUE(e.payload);
  EXPECT_TRUE(e.payload->is_object());
  EXPECT_TRUE(e.payload->empty());
}

TEST(ParseEvent, EmptyAndUnknownTransitionAreNotMalformed) {
  Json j = base_event();
  j["transition"] = "";
  EXPECT_EQ(expect_event(parse_json(j)).transition, "");
  j["transition"] = "no_such_transition";
  EXPECT_EQ(expect_event(parse_json(j)).transition, "no_such_transition");
}

// ---------------------------------------------------------------- required fields

class RequiredField : public ::testing::TestWithParam<const char*> {};

TEST_P(RequiredField, Missing) {
  Json j = base_event();
  j.erase(GetParam());
  const std::string key = "membership:guild-1/user-9";
  const Malformed m = expect_malformed(parse_both(j.dump(), key));
  EXPECT_TRUE(contains(m.detail, std::string("'") + GetParam() + "'")) << m.detail;
  EXPECT_TRUE(contains(m.detail, "missing")) << m.detail;
}

TEST_P(RequiredField, Null) {
  Json j = base_event();
  j[GetParam()] = nullptr;
  const Malformed m = expect_malformed(parse_both(j.dump(), kKey));
  EXPECT_TRUE(contains(m.detail, std::string("field '") + GetParam() + "'")) << m.detail;
  EXPECT_TRUE(contains(m.detail, "null")) << m.detail;
}

TEST_P(RequiredField, WrongTypes) {
  for (const Json& bad : {Json(1), Json(1.5), Json(true), Json::array({"x"}), Json{{"a", "b"}}}) {
    Json j = base_event();
    j[GetParam()] = bad;
    const Malformed m = expect_malformed(parse_both(j.dump(), kKey));
    EXPECT_TRUE(contains(m.detail, std::string("field '") + GetParam() + "'"))
        << m.detail << " for " << bad.dump();
    EXPECT_TRUE(contains(m.detail, "string")) << m.detail;
  }
}

TEST_P(RequiredField, NulCharacterIsMalformed) {
  Json j = base_event();
  j[GetParam()] = std::string("ab\0cd", 5);
  const Malformed m = expect_malformed(parse_both(j.dump(), kKey));
  EXPECT_TRUE(contains(m.detail, std::string("'") + GetParam() + "'")) << m.detail;
}

INSTANTIATE_TEST_SUITE_P(All, RequiredField,
                         ::testing::Values("event_id", "aggregate_type", "aggregate_id",
                                           "transition"));

// ---------------------------------------------------------------- optional fields

class OptionalField : public ::testing::TestWithParam<const char*> {};

TEST_P(OptionalField, NullIsMalformed) {
  Json j = base_event();
  j[GetParam()] = nullptr;
  const Malformed m = expect_malformed(parse_json(j));
  EXPECT_TRUE(contains(m.detail, std::string("field '") + GetParam() + "'")) << m.detail;
  EXPECT_EQ(m.event_id, "e-1");
}

TEST_P(OptionalField, WrongTypeIsMalformed) {
  const std::string name = GetParam();
  // A value of a type the field never accepts.
  const Json bad = name == "payload" ? Json::array({1}) : Json(true);
  Json j = base_event();
  j[name] = bad;
  EXPECT_MALFORMED_WITH(parse_json(j), "field '" + name + "'");
  j[name] = Json::array();
  EXPECT_MALFORMED_WITH(parse_json(j), "field '" + name + "'");
}

INSTANTIATE_TEST_SUITE_P(All, OptionalField,
                         ::testing::Values("expected_version", "expected_state", "payload",
                                           "actor", "occurred_at"));

TEST(ParseEvent, OptionalStringFieldsRejectNonStrings) {
  for (const char* name : {"expected_state", "actor", "occurred_at"}) {
    for (const Json& bad : {Json(1), Json(2.5), Json{{"a", 1}}}) {
      Json j = base_event();
      j[name] = bad;
      EXPECT_MALFORMED_WITH(parse_json(j), std::string("field '") + name + "' must be a string");
    }
  }
}

TEST(ParseEvent, PayloadMustBeAnObject) {
  for (const Json& bad : {Json("x"), Json(1), Json(false), Json::array({1, 2})}) {
    Json j = base_event();
    j["payload"] = bad;
    EXPECT_MALFORMED_WITH(parse_json(j), "field 'payload' must be an object");
  }
}

TEST(ParseEvent, NulInOptionalStrings) {
  for (const char* name : {"expected_state", "actor"}) {
    Json j = base_event();
    j[name] = std::string("x\0y", 3);
    EXPECT_MALFORMED_WITH(parse_json(j), std::string("field '") + name + "'");
  }
}

TEST(ParseEvent, NulInsidePayloadIsMalformed) {
  Json j = base_event();
  j["payload"] = Json{{"a", {{"b", std::string("x\0y", 3)}}}};
  EXPECT_MALFORMED_WITH(parse_json(j), "field 'payload'");
  j["payload"] = Json{{std::string("k\0", 2), 1}};
  EXPECT_MALFORMED_WITH(parse_json(j), "field 'payload'");
}

TEST(ParseEvent, NulEscapeInRawText) {
  const std::string v =
      R"({"event_id":"e-1","aggregate_type":"membership","aggregate_id":"guild-1/user-9","transition":"jo\u0000in"})";
  const Malformed m = expect_malformed(parse_both(v, kKey));
  EXPECT_TRUE(contains(m.detail, "'transition'")) << m.detail;
  EXPECT_EQ(m.event_id, "e-1");
}

// ---------------------------------------------------------------- lengths

TEST(ParseEvent, EventIdLength) {
  Json j = base_event();
  j["event_id"] = "";
  EXPECT_MALFORMED_WITH(parse_json(j), "field 'event_id'");
  j["event_id"] = "x";
  expect_event(parse_json(j));
  j["event_id"] = repeat("a", 128);
  expect_event(parse_json(j));
  j["event_id"] = repeat("a", 129);
  EXPECT_MALFORMED_WITH(parse_json(j), "field 'event_id'");
}

TEST(ParseEvent, EventIdCountsCodePointsNotBytes) {
  Json j = base_event();
  j["event_id"] = repeat("\xc3\xa9", 128);  // é, 2 bytes each
  EXPECT_EQ(expect_event(parse_json(j)).event_id.size(), 256u);
  j["event_id"] = repeat("\xf0\x9f\x98\x80", 128);  // 4-byte emoji
  expect_event(parse_json(j));
  j["event_id"] = repeat("\xe2\x82\xac", 129);  // €, 3 bytes each
  EXPECT_MALFORMED_WITH(parse_json(j), "field 'event_id'");
}

TEST(ParseEvent, AggregateIdLength) {
  Json j = base_event();
  j["aggregate_id"] = "";
  EXPECT_MALFORMED_WITH(parse_both(j.dump(), std::string("membership:")), "field 'aggregate_id'");
  j["aggregate_id"] = repeat("a", 256);
  expect_event(parse_json(j));
  j["aggregate_id"] = repeat("\xe2\x82\xac", 256);
  expect_event(parse_json(j));
  j["aggregate_id"] = repeat("a", 257);
  EXPECT_MALFORMED_WITH(parse_json(j), "field 'aggregate_id'");
  j["aggregate_id"] = repeat("\xc3\xa9", 257);
  EXPECT_MALFORMED_WITH(parse_json(j), "field 'aggregate_id'");
}

TEST(ParseEvent, ActorLength) {
  Json j = base_event();
  j["actor"] = "";
  EXPECT_EQ(expect_event(parse_json(j)).actor, "");
  j["actor"] = repeat("\xc3\xa9", 256);
  expect_event(parse_json(j));
  j["actor"] = repeat("a", 257);
  EXPECT_MALFORMED_WITH(parse_json(j), "field 'actor'");
}

TEST(ParseEvent, AggregateTypePattern) {
  for (const char* good : {"a", "membership", "a_1", "z9_", "a0123456789"}) {
    Json j = base_event();
    j["aggregate_type"] = good;
    expect_event(parse_json(j));
  }
  {
    Json j = base_event();
    j["aggregate_type"] = "a" + repeat("b", 63);
    expect_event(parse_json(j));
    j["aggregate_type"] = "a" + repeat("b", 64);
    EXPECT_MALFORMED_WITH(parse_json(j), "field 'aggregate_type'");
  }
  for (const char* bad : {"", "Membership", "1abc", "_abc", "mem-ber", "mem ber", "mem:ber",
                          "m\xc3\xa9m", "memBer"}) {
    Json j = base_event();
    j["aggregate_type"] = bad;
    EXPECT_MALFORMED_WITH(parse_json(j), "field 'aggregate_type'");
  }
}

// ---------------------------------------------------------------- expected_version

TEST(ParseEvent, ExpectedVersionValid) {
  for (const std::string raw : {"0", "1", "42", "9223372036854775807", "-0"}) {
    const std::string v =
        R"({"event_id":"e-1","aggregate_type":"membership","aggregate_id":"guild-1/user-9","transition":"join","expected_version":)" +
        raw + "}";
    const Event e = expect_event(parse_both(v, kKey));
    ASSERT_TRUE(e.expected_version) << raw;
  }
  Json j = base_event();
  j["expected_version"] = std::numeric_limits<int64_t>::max();
  EXPECT_EQ(expect_event(parse_json(j)).expected_version, std::numeric_limits<int64_t>::max());
  j["expected_version"] = 0;
  EXPECT_EQ(expect_event(parse_json(j)).expected_version, 0);
}

TEST(ParseEvent, ExpectedVersionInvalid) {
  for (const std::string raw :
       {"-1", "-9223372036854775808", "1.0", "1.5", "1e2", "0e0", "9223372036854775808",
        "18446744073709551615", "18446744073709551616", "99999999999999999999999", "\"1\"",
        "true", "[1]", "{}"}) {
    const std::string v =
        R"({"event_id":"e-1","aggregate_type":"membership","aggregate_id":"guild-1/user-9","transition":"join","expected_version":)" +
        raw + "}";
    const Malformed m = expect_malformed(parse_both(v, kKey));
    EXPECT_TRUE(contains(m.detail, "field 'expected_version'")) << raw << ": " << m.detail;
    EXPECT_EQ(m.event_id, "e-1") << raw;
  }
}

TEST(ParseEvent, ExpectedVersionOverflowingDouble) {
  // The JSON parser itself refuses 1e400, so the event_id cannot be read; the
  // detail still names the field.
  const std::string v =
      R"({"event_id":"e-1","aggregate_type":"membership","aggregate_id":"guild-1/user-9","transition":"join","expected_version":1e400})";
  EXPECT_MALFORMED_WITH(parse_both(v, kKey), "field 'expected_version'");
}

TEST(ParseEvent, ExpectedVersionDetailIsExplicit) {
  Json j = base_event();
  j["expected_version"] = -3;
  EXPECT_MALFORMED_WITH(parse_json(j), "field 'expected_version' must be an integer >= 0");
  j["expected_version"] = 1.0;
  EXPECT_MALFORMED_WITH(parse_json(j), "field 'expected_version' must be an integer >= 0");
}

// ---------------------------------------------------------------- occurred_at

TEST(ParseEvent, OccurredAtValid) {
  for (const char* s :
       {"2024-05-01T12:00:00Z", "2024-05-01T12:00:00.5Z", "2024-05-01t12:00:00z",
        "2024-05-01T12:00:00+02:00", "2024-05-01T12:00:00-07:30", "2024-05-01T12:00:00.123456789Z",
        "2024-02-29T00:00:00Z", "2000-02-29T23:59:59Z", "2016-12-31T23:59:60Z",
        "2017-01-01T00:59:60+01:00", "1999-12-31T23:59:59-00:00", "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999Z"}) {
    Json j = base_event();
    j["occurred_at"] = s;
    EXPECT_EQ(expect_event(parse_json(j)).occurred_at, s);
  }
}

TEST(ParseEvent, OccurredAtInvalid) {
  for (const char* s :
       {"", "2024-05-01", "12:00:00Z", "2024-05-01 12:00:00Z", "2024-05-01T12:00:00",
        "2024-05-01T12:00Z", "2024-5-01T12:00:00Z", "24-05-01T12:00:00Z", "2024-13-01T00:00:00Z",
        "2024-00-01T00:00:00Z", "2024-05-00T00:00:00Z", "2024-05-32T00:00:00Z",
        "2024-04-31T00:00:00Z", "2023-02-29T00:00:00Z", "1900-02-29T00:00:00Z",
        "2024-05-01T24:00:00Z", "2024-05-01T12:60:00Z", "2024-05-01T12:00:61Z",
        "2024-05-01T12:00:60Z", "2024-05-01T12:00:00.Z", "2024-05-01T12:00:00,5Z",
        "2024-05-01T12:00:00+0200", "2024-05-01T12:00:00+02", "2024-05-01T12:00:00+24:00",
        "2024-05-01T12:00:00+02:60", "2024-05-01T12:00:00ZZ", "2024-05-01T12:00:00Z ",
        " 2024-05-01T12:00:00Z", "2024-05-01T12:00:00UTC", "2024-05-01X12:00:00Z",
        "2024/05/01T12:00:00Z", "２０２４-05-01T12:00:00Z", "0000-01-01T00:00:00Z",
        "2024-05-01T12:00:00Q", "2024-05-01T1a:00:00Z"}) {
    Json j = base_event();
    j["occurred_at"] = s;
    const Malformed m = expect_malformed(parse_json(j));
    EXPECT_TRUE(contains(m.detail, "field 'occurred_at'")) << s << ": " << m.detail;
  }
}

TEST(IsRfc3339, Samples) {
  EXPECT_TRUE(is_rfc3339("2024-05-01T12:00:00.5Z"));
  EXPECT_TRUE(is_rfc3339("1985-04-12T23:20:50.52Z"));
  EXPECT_TRUE(is_rfc3339("1996-12-19T16:39:57-08:00"));
  EXPECT_TRUE(is_rfc3339("1990-12-31T23:59:60Z"));
  EXPECT_TRUE(is_rfc3339("1990-12-31T15:59:60-08:00"));
  EXPECT_TRUE(is_rfc3339("1937-01-01T12:00:27.87+00:20"));
  EXPECT_FALSE(is_rfc3339("1990-12-31T15:59:60Z"));
  EXPECT_FALSE(is_rfc3339("2024-05-01T12:00:00.5"));
  EXPECT_FALSE(is_rfc3339(std::string_view("2024-05-01T12:00:00\0Z", 21)));
}

// ---------------------------------------------------------------- not JSON / not an object

TEST(ParseEvent, NotJson) {
  for (const std::string& v :
       {std::string(), std::string("   "), std::string("not json"), std::string("{"),
        std::string(R"({"event_id":"e-1")"), std::string(R"({"event_id":"e-1",})"),
        std::string(R"({"event_id":"e-1"} trailing)"), std::string(R"({"event_id":"e-1"}{})"),
        std::string(R"({'event_id':'e-1'})"), std::string(R"({event_id:"e-1"})"),
        std::string("{\"event_id\":\"e-1\" /* c */}"), std::string("{\"a\":NaN}"),
        std::string("{\"a\":Infinity}"), std::string("{\"a\":01}"), std::string("{\"a\":\"x\ty\"}"),
        std::string("{\"a\":\"\\x41\"}"), std::string("\x00", 1),
        std::string("{\"a\":1}\x00", 8)}) {
    const Malformed m = expect_malformed(parse_both(v, kKey));
    EXPECT_FALSE(m.detail.empty());
    EXPECT_FALSE(m.event_id) << v;
  }
}

TEST(ParseEvent, TruncatedJson) {
  Json j = base_event();
  j["payload"] = Json{{"a", {1, 2, 3}}};
  const std::string full = j.dump();
  for (std::size_t n = 0; n < full.size(); ++n) {
    const Malformed m = expect_malformed(parse_both(full.substr(0, n), kKey));
    EXPECT_FALSE(m.event_id) << n;
  }
}

TEST(ParseEvent, NonObjectTopLevel) {
  for (const std::string v : {"[]", "[{\"event_id\":\"e-1\"}]", "\"x\"", "1", "true", "null"}) {
    const Malformed m = expect_malformed(parse_both(v, kKey));
    EXPECT_TRUE(contains(m.detail, "object")) << v << ": " << m.detail;
    EXPECT_FALSE(m.event_id);
  }
}

TEST(ParseEvent, InvalidUtf8) {
  const std::string prefix = R"({"event_id":"e-1","aggregate_type":"membership","aggregate_id":"guild-1/user-9","transition":"join","actor":")";
  for (const std::string& bad :
       {std::string("\xff"), std::string("\xc3"), std::string("\xc0\xaf"),     // overlong '/'
        std::string("\xed\xa0\x80"),                                           // surrogate
        std::string("\xf4\x90\x80\x80"),                                       // > U+10FFFF
        std::string("\x80"), std::string("\xe2\x82"), std::string("a\xfe" "b"),
        std::string("\\ud800"), std::string("\\udc00"), std::string("\\ud800\\u0041")}) {
    const std::string v = prefix + bad + "\"}";
    const Malformed m = expect_malformed(parse_both(v, kKey));
    EXPECT_FALSE(m.detail.empty());
    // The detail itself must be valid UTF-8 (dumpable).
    EXPECT_NO_THROW((void)Json(m.detail).dump());
  }
  // Invalid bytes outside strings.
  expect_malformed(parse_both("\xff{}", kKey));
  // A valid surrogate pair escape is fine.
  const std::string ok = prefix + "\\ud83d\\ude00" + "\"}";
  EXPECT_EQ(expect_event(parse_both(ok, kKey)).actor, "\xf0\x9f\x98\x80");
}

TEST(ParseEvent, InvalidUtf8InEventIdGivesNoEventId) {
  const std::string v =
      "{\"event_id\":\"e\xff\",\"aggregate_type\":\"membership\",\"aggregate_id\":\"guild-1/user-9\","
      "\"transition\":\"join\"}";
  const Malformed m = expect_malformed(parse_both(v, kKey));
  EXPECT_FALSE(m.event_id);
}

// ---------------------------------------------------------------- size and depth

TEST(ParseEvent, OversizeIsMalformedBeforeParsing) {
  ParseLimits limits;
  limits.max_event_bytes = 100;
  Json j = base_event();
  j["payload"] = Json{{"pad", repeat("x", 200)}};
  const Malformed m = expect_malformed(parse_json(j, limits));
  EXPECT_TRUE(contains(m.detail, "larger than limits.max_event_bytes 100")) << m.detail;
  EXPECT_TRUE(contains(m.detail, std::to_string(j.dump().size()) + " bytes")) << m.detail;
  EXPECT_FALSE(m.event_id);
  // Even garbage is reported as too large, not as bad JSON.
  EXPECT_MALFORMED_WITH(parse_both(repeat("\xff", 101), kKey, limits), "limits.max_event_bytes");
}

TEST(ParseEvent, SizeBoundaryIsInclusive) {
  const std::string v = base_event().dump();
  ParseLimits limits;
  limits.max_event_bytes = v.size();
  expect_event(parse_both(v, kKey, limits));
  limits.max_event_bytes = v.size() - 1;
  EXPECT_MALFORMED_WITH(parse_both(v, kKey, limits), "limits.max_event_bytes");
}

TEST(ParseEvent, DefaultSizeLimitIsOneMebibyte) {
  Json j = base_event();
  j["payload"] = Json{{"pad", std::string()}};
  const std::size_t overhead = j.dump().size();
  j["payload"]["pad"] = repeat("x", 1024 * 1024 - overhead);
  ASSERT_EQ(j.dump().size(), 1024u * 1024u);
  expect_event(parse_json(j));
  j["payload"]["pad"] = repeat("x", 1024 * 1024 - overhead + 1);
  EXPECT_MALFORMED_WITH(parse_json(j), "larger than limits.max_event_bytes 1048576");
}

// An event whose whole document nests exactly `depth` (>= 3) levels deep: the event
// object is level 1, the payload object level 2, then depth-2 arrays or objects.
std::string nested_event(int depth, bool objects = false) {
  std::string inner;
  if (objects) {
    for (int i = 0; i < depth - 3; ++i) inner += "{\"a\":";
    inner += "{}";
    for (int i = 0; i < depth - 3; ++i) inner += "}";
  } else {
    for (int i = 0; i < depth - 2; ++i) inner += "[";
    for (int i = 0; i < depth - 2; ++i) inner += "]";
  }
  return R"({"event_id":"e-1","aggregate_type":"membership","aggregate_id":"guild-1/user-9","transition":"join","payload":{"x":)" +
         inner + "}}";
}

TEST(ParseEvent, DepthLimitAtAndOver) {
  ParseLimits limits;  // max_depth 64
  expect_event(parse_both(nested_event(64), kKey, limits));
  EXPECT_MALFORMED_WITH(parse_both(nested_event(65), kKey, limits), "max_depth");
  expect_event(parse_both(nested_event(64, true), kKey, limits));
  EXPECT_MALFORMED_WITH(parse_both(nested_event(65, true), kKey, limits), "max_depth");

  limits.max_depth = 5;
  expect_event(parse_both(nested_event(5), kKey, limits));
  EXPECT_MALFORMED_WITH(parse_both(nested_event(6), kKey, limits), "max_depth");
}

TEST(ParseEvent, BracketsInsideStringsDoNotCountTowardsDepth) {
  ParseLimits limits;
  limits.max_depth = 2;
  Json j = base_event();
  j["payload"] = Json{{"s", repeat("[{", 100) + "\\\"[[[" + "\"" + repeat("{", 50)}};
  expect_event(parse_json(j, limits));
  j["event_id"] = "e-\\\"[[[[[[";
  expect_event(parse_json(j, limits));
}

TEST(ParseEvent, VeryDeepInputDoesNotCrash) {
  const std::string deep = repeat("[", 500000) + repeat("]", 500000);
  EXPECT_MALFORMED_WITH(parse_both(deep, kKey), "max_depth");
  const std::string deep_obj = repeat("{\"a\":", 200000);
  EXPECT_MALFORMED_WITH(parse_both(deep_obj, kKey), "max_depth");
}

// ---------------------------------------------------------------- key

TEST(ParseEvent, KeyMustMatch) {
  const std::string v = base_event().dump();
  expect_event(parse_both(v, kKey));
  for (const std::string& bad :
       {std::string(""), std::string("membership"), std::string("membership:guild-1"),
        std::string("membership:guild-1/user-9 "), std::string("Membership:guild-1/user-9"),
        std::string("membership/guild-1/user-9"), std::string("other:guild-1/user-9"),
        std::string("membership:guild-1/user-9\0", 26), std::string("\xff\xfe")}) {
    const Malformed m = expect_malformed(parse_both(v, bad));
    EXPECT_TRUE(contains(m.detail, "key mismatch")) << m.detail;
    EXPECT_EQ(m.event_id, "e-1");
    EXPECT_NO_THROW((void)Json(m.detail).dump());
  }
}

TEST(ParseEvent, MissingKeyIsMalformed) {
  const Malformed m = expect_malformed(parse_both(base_event().dump(), std::nullopt));
  EXPECT_TRUE(contains(m.detail, "key mismatch")) << m.detail;
  EXPECT_EQ(m.event_id, "e-1");
}

TEST(ParseEvent, KeyWithColonInsideId) {
  Json j = base_event();
  j["aggregate_id"] = "a:b:c";
  expect_event(parse_both(j.dump(), std::string("membership:a:b:c")));
}

// ---------------------------------------------------------------- strictness extras

TEST(ParseEvent, DuplicateFieldsAreMalformed) {
  const std::string v =
      R"({"event_id":"e-1","aggregate_type":"membership","aggregate_id":"guild-1/user-9","transition":"join","transition":"remove"})";
  const Malformed m = expect_malformed(parse_both(v, kKey));
  EXPECT_TRUE(contains(m.detail, "'transition'")) << m.detail;
  EXPECT_EQ(m.event_id, "e-1");

  const std::string dup_id =
      R"({"event_id":"e-1","event_id":"e-2","aggregate_type":"membership","aggregate_id":"guild-1/user-9","transition":"join"})";
  const Malformed m2 = expect_malformed(parse_both(dup_id, kKey));
  EXPECT_FALSE(m2.event_id);

  const std::string dup_payload =
      R"({"event_id":"e-1","aggregate_type":"membership","aggregate_id":"guild-1/user-9","transition":"join","payload":{"a":{"b":1,"b":2}}})";
  EXPECT_MALFORMED_WITH(parse_both(dup_payload, kKey), "field 'payload'");

  // The same key in sibling objects is fine.
  const std::string siblings =
      R"({"event_id":"e-1","aggregate_type":"membership","aggregate_id":"guild-1/user-9","transition":"join","payload":{"a":{"b":1},"c":{"b":2},"d":[{"b":1},{"b":2}]}})";
  expect_event(parse_both(siblings, kKey));
}

// The quick parse counts the keys in the text to find duplicates: strings that
// look like keys, escaped quotes, colons inside strings and whitespace before
// the colon must neither hide a duplicate nor invent one.
TEST(ParseEvent, DuplicatesAreFoundWhateverTheTextAroundThem) {
  const std::string head =
      R"({"event_id":"e-1","aggregate_type":"membership","aggregate_id":"guild-1/user-9","transition":"join",)";
  const std::vector<std::string> fine = {
      R"("payload":{"a":"x\":y","b":"\"q\" : r","c":[":",{"d":":"}]}})",
      R"("payload" : {"a" :1, "b"	:	2, "s":"\\", "t":"\\\""}})",
      R"("payload":{"a":{"a":{"a":1}},"k:":"v:","k":[{"x":1},{"x":1}]}})",
  };
  for (const auto& tail : fine) expect_event(parse_both(head + tail, kKey));
  const std::vector<std::string> duplicated = {
      R"("payload":{"a":"x\":y","a" : 2}})",
      R"("payload":{"l":[{"x":1,"x":2}]}})",
      R"("payload":{"s":"\\","s":1}})",
      R"("payload":{"a":{"b":{"c":1,"c" :2}}}})",
  };
  for (const auto& tail : duplicated) EXPECT_MALFORMED_WITH(parse_both(head + tail, kKey), "field 'payload'");
}

TEST(ParseEvent, OutOfRangeNumberInPayload) {
  const std::string v =
      R"({"event_id":"e-1","aggregate_type":"membership","aggregate_id":"guild-1/user-9","transition":"join","payload":{"n":1e400}})";
  EXPECT_MALFORMED_WITH(parse_both(v, kKey), "field 'payload'");
}

TEST(ParseEvent, DetailsNeverEchoPayloadAndAreShort) {
  Json j = base_event();
  j["payload"] = Json{{"secret", "hunter2-password"}};
  j["aggregate_type"] = "BAD" + repeat("x", 500);
  const Malformed m = expect_malformed(parse_both(j.dump(), std::string("k")));
  EXPECT_FALSE(contains(m.detail, "hunter2")) << m.detail;
  EXPECT_LT(m.detail.size(), 200u) << m.detail;

  Json k = base_event();
  k["payload"] = Json{{"secret", "hunter2-password"}};
  const Malformed m2 = expect_malformed(parse_both(k.dump(), repeat("z", 1000)));
  EXPECT_FALSE(contains(m2.detail, "hunter2")) << m2.detail;
  EXPECT_LT(m2.detail.size(), 300u) << m2.detail;
}

// ---------------------------------------------------------------- Malformed.event_id

TEST(ParseEvent, MalformedCarriesEventIdWhenReadable) {
  Json j = base_event();
  j["aggregate_type"] = 5;
  EXPECT_EQ(expect_malformed(parse_json(j)).event_id, "e-1");

  j = base_event();
  j.erase("transition");
  EXPECT_EQ(expect_malformed(parse_json(j)).event_id, "e-1");

  j = base_event();
  j["event_id"] = repeat("a", 128);
  j["expected_version"] = -1;
  EXPECT_EQ(expect_malformed(parse_json(j)).event_id, repeat("a", 128));
}

TEST(ParseEvent, MalformedHasNoEventIdWhenUnreadable) {
  for (const Json& bad_id : {Json(""), Json(repeat("a", 129)), Json(12), Json(nullptr),
                             Json(std::string("a\0b", 3)), Json::array({"e-1"})}) {
    Json j = base_event();
    j["event_id"] = bad_id;
    EXPECT_FALSE(expect_malformed(parse_json(j)).event_id) << bad_id.dump();
  }
  Json j = base_event();
  j.erase("event_id");
  EXPECT_FALSE(expect_malformed(parse_json(j)).event_id);
  EXPECT_FALSE(expect_malformed(parse_both("{\"event_id\":\"e-1\"", kKey)).event_id);
}

// ---------------------------------------------------------------- helpers

TEST(Utf8Length, CountsCodePoints) {
  EXPECT_EQ(utf8_length(""), 0u);
  EXPECT_EQ(utf8_length("abc"), 3u);
  EXPECT_EQ(utf8_length("\xc3\xa9"), 1u);
  EXPECT_EQ(utf8_length("\xe2\x82\xac"), 1u);
  EXPECT_EQ(utf8_length("\xf0\x9f\x98\x80"), 1u);
  EXPECT_EQ(utf8_length("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z"), 5u);
}

TEST(IsValidAggregateType, Pattern) {
  EXPECT_TRUE(is_valid_aggregate_type("a"));
  EXPECT_TRUE(is_valid_aggregate_type("membership_v2"));
  EXPECT_TRUE(is_valid_aggregate_type("a" + repeat("0", 63)));
  EXPECT_FALSE(is_valid_aggregate_type("a" + repeat("0", 64)));
  EXPECT_FALSE(is_valid_aggregate_type(""));
  EXPECT_FALSE(is_valid_aggregate_type("0a"));
  EXPECT_FALSE(is_valid_aggregate_type("aB"));
  EXPECT_FALSE(is_valid_aggregate_type(std::string_view("a\0", 2)));
}

TEST(ParseEvent, NeverThrowsOnGarbage) {
  // A deterministic fuzz over mutated copies of a valid event.
  const std::string v = base_event().dump();
  uint32_t state = 12345;
  auto next = [&state] {
    state = state * 1103515245u + 12345u;
    return state >> 8;
  };
  for (int i = 0; i < 5000; ++i) {
    std::string m = v;
    const int edits = 1 + static_cast<int>(next() % 4);
    for (int k = 0; k < edits; ++k) {
      const std::size_t pos = next() % m.size();
      m[pos] = static_cast<char>(next() & 0xFF);
    }
    EXPECT_NO_THROW({
      const ParseResult r = parse_both(m, kKey);
      if (const auto* mal = std::get_if<Malformed>(&r)) (void)Json(mal->detail).dump();
    });
  }
}

}  // namespace
}  // namespace lockstep
