// Dead-letter operations as pure functions: replay ids and messages, reading a
// dead-letter topic message back into a row (drain), operators' time filters.
#include "lockstep/dlq.hpp"

#include <gtest/gtest.h>

#include "lockstep/test/dead_letters.hpp"
#include "lockstep/wire.hpp"

namespace lockstep::dlq {
namespace {

using std::chrono::system_clock;

std::size_t code_points(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

DeadLetterRecord conflict_letter() {
  auto d = test::conflict_dead_letter(test::event("evt-7", "guild-1/user-9", "suspend")
                                          .expected_version(1)
                                          .expected_state("active")
                                          .payload({{"why", "spam"}})
                                          .actor("web"));
  d.headers[0].value = "00-abc-def-01";
  d.conflict = Json{{"expected_version", 1}, {"actual_version", 3}, {"expected_state", "active"},
                    {"actual_state", "suspended"}, {"updated_at", "2026-11-23T10:00:00.000Z"}, {"updated_by", "bot"}};
  return d;
}

Snapshot at(int64_t version, const std::string& state) {
  Snapshot s;
  s.exists = true;
  s.version = version;
  s.state = state;
  return s;
}

std::optional<std::string> header(const OutMessage& m, const std::string& name) {
  for (const auto& h : m.headers)
    if (h.name == name) return h.value;
  return std::nullopt;
}

Event parsed(const OutMessage& m) {
  auto r = parse_event(m.value, m.key, ParseLimits{});
  if (const auto* bad = std::get_if<Malformed>(&r)) ADD_FAILURE() << "replay is not a valid event: " << bad->detail;
  return std::get<Event>(r);
}

TEST(ReplayEventId, OriginalIdPlusDeadLetterId) {
  EXPECT_EQ(replay_event_id("evt-7", 42), "evt-7~replay-42");
  EXPECT_NE(replay_event_id("evt-7", 42), replay_event_id("evt-7", 43));
  EXPECT_EQ(replay_event_id("evt-7", 42), replay_event_id("evt-7", 42)) << "deterministic";
}

TEST(ReplayEventId, StaysWithin128CharactersAndValidUtf8) {
  const std::string ascii(128, 'a');
  const auto r = replay_event_id(ascii, 123456789);
  EXPECT_EQ(code_points(r), 128u);
  EXPECT_EQ(r.substr(r.size() - 17), "~replay-123456789");
  std::string wide;
  for (int i = 0; i < 128; ++i) wide += "\xC3\xA9";  // é: two bytes, one character
  const auto w = replay_event_id(wide, 7);
  EXPECT_LE(code_points(w), 128u);
  EXPECT_EQ(w.substr(w.size() - 9), "~replay-7");
  // The result is an event_id the event parser accepts.
  auto ev = Json{{"event_id", w}, {"aggregate_type", "membership"}, {"aggregate_id", "a"}, {"transition", "join"}};
  auto r2 = parse_event(ev.dump(), std::string("membership:a"), ParseLimits{});
  EXPECT_TRUE(std::holds_alternative<Event>(r2));
}

TEST(ReplayRefusal, OnlyOpenNonMalformedAndVersionModesOnlyForConflicts) {
  auto d = conflict_letter();
  EXPECT_EQ(replay_refusal(d, VersionMode::keep), std::nullopt);
  EXPECT_EQ(replay_refusal(d, VersionMode::rebase), std::nullopt);
  EXPECT_EQ(replay_refusal(d, VersionMode::drop), std::nullopt);
  auto closed = d;
  closed.status = "replayed";
  EXPECT_NE(replay_refusal(closed, VersionMode::keep), std::nullopt);
  auto bad = d;
  bad.reason = "malformed";
  bad.event.reset();
  ASSERT_NE(replay_refusal(bad, VersionMode::keep), std::nullopt);
  EXPECT_NE(replay_refusal(bad, VersionMode::keep)->find("malformed"), std::string::npos);
  auto invalid = d;
  invalid.reason = "invalid_transition";
  EXPECT_EQ(replay_refusal(invalid, VersionMode::keep), std::nullopt);
  ASSERT_NE(replay_refusal(invalid, VersionMode::rebase), std::nullopt);
  EXPECT_NE(replay_refusal(invalid, VersionMode::rebase)->find("--rebase"), std::string::npos);
  EXPECT_NE(replay_refusal(invalid, VersionMode::drop), std::nullopt);
}

TEST(ReplayMessage, KeepsTheEventUnderANewIdTraceableToTheOriginal) {
  const auto d = conflict_letter();
  const auto m = replay_message(d, VersionMode::keep, at(3, "suspended"), d.src.topic, "ops@host");
  EXPECT_EQ(m.topic, "transitions.api");
  EXPECT_EQ(m.key, d.kafka_key);
  const auto e = parsed(m);
  EXPECT_EQ(e.event_id, "evt-7~replay-42");
  EXPECT_EQ(e.expected_version, 1);
  EXPECT_EQ(e.expected_state, "active");
  EXPECT_EQ(e.transition, "suspend");
  EXPECT_EQ(e.actor, "web");
  const auto j = Json::parse(m.value);
  EXPECT_EQ(j["replay_of"], "evt-7");
  EXPECT_EQ(j["payload"], Json({{"why", "spam"}}));
  EXPECT_EQ(header(m, "traceparent"), "00-abc-def-01") << "the event's own headers are kept";
  EXPECT_EQ(header(m, wire::header::replay_of), "evt-7");
  EXPECT_EQ(header(m, wire::header::replay_dead_letter_id), "42");
  EXPECT_EQ(header(m, wire::header::replay_by), "ops@host");
}

TEST(ReplayMessage, RebaseTakesTheCurrentVersionAndState) {
  const auto d = conflict_letter();
  const auto e = parsed(replay_message(d, VersionMode::rebase, at(3, "suspended"), d.src.topic, "ops"));
  EXPECT_EQ(e.expected_version, 3);
  EXPECT_EQ(e.expected_state, "suspended");
  // No expected_state in the original: none added.
  auto d2 = d;
  d2.raw = R"({"event_id":"evt-7","aggregate_type":"membership","aggregate_id":"guild-1/user-9","transition":"suspend","expected_version":1})";
  const auto e2 = parsed(replay_message(d2, VersionMode::rebase, at(5, "active"), d.src.topic, "ops"));
  EXPECT_EQ(e2.expected_version, 5);
  EXPECT_EQ(e2.expected_state, std::nullopt);
  // The aggregate is gone: rebase onto "must not exist".
  const auto e3 = parsed(replay_message(d2, VersionMode::rebase, Snapshot{}, d.src.topic, "ops"));
  EXPECT_EQ(e3.expected_version, 0);
}

TEST(ReplayMessage, DropRemovesOnlyTheVersionCheck) {
  const auto d = conflict_letter();
  const auto e = parsed(replay_message(d, VersionMode::drop, at(3, "suspended"), "other.topic", "ops"));
  EXPECT_EQ(e.expected_version, std::nullopt);
  EXPECT_EQ(e.expected_state, "active");
}

TEST(ReplayMessage, AReplayOfAReplayLinksToItsOwnOriginal) {
  auto d = conflict_letter();
  d.id = 50;
  d.event_id = "evt-7~replay-42";
  auto j = Json::parse(d.raw);
  j["event_id"] = d.event_id;
  j["replay_of"] = "evt-7";
  d.raw = j.dump();
  d.headers.push_back(Header{wire::header::replay_of, std::string("evt-7")});
  d.headers.push_back(Header{wire::header::replay_dead_letter_id, std::string("42")});
  const auto m = replay_message(d, VersionMode::keep, at(3, "suspended"), d.src.topic, "ops");
  EXPECT_EQ(parsed(m).event_id, "evt-7~replay-42~replay-50");
  EXPECT_EQ(Json::parse(m.value)["replay_of"], "evt-7~replay-42");
  int n = 0;
  for (const auto& h : m.headers) n += h.name == wire::header::replay_of;
  EXPECT_EQ(n, 1);
  EXPECT_EQ(header(m, wire::header::replay_of), "evt-7~replay-42");
}

Message as_consumed(const OutMessage& o) {
  Message m;
  m.topic = o.topic;
  m.partition = 0;
  m.offset = 17;
  m.key = o.key;
  m.value = o.value;
  m.headers = o.headers;
  return m;
}

// Every field the message carries is read back by wire::parse_dead_letter (wire_test);
// drain makes it an open row, the event's own headers kept.
TEST(ParseDeadLetterMessage, RoundTripsWhatTheRelayPublishes) {
  const auto d = conflict_letter();
  auto r = parse_dead_letter_message(as_consumed(wire::dead_letter_message(d, "transitions.dlq")));
  ASSERT_TRUE(std::holds_alternative<DeadLetterRecord>(r)) << std::get<std::string>(r);
  const auto& got = std::get<DeadLetterRecord>(r);
  EXPECT_EQ(got.event_id, d.event_id);
  EXPECT_EQ(got.reason, d.reason);
  EXPECT_EQ(got.event, d.event);
  EXPECT_EQ(got.headers, d.headers) << "only the event's own headers, not lockstep.*";
  EXPECT_EQ(got.conflict, d.conflict);
  EXPECT_EQ(got.created_at, d.created_at);
  EXPECT_EQ(got.status, "open");
}

TEST(ParseDeadLetterMessage, MalformedKeepsItsRawBytes) {
  DeadLetterRecord d;
  d.id = 1;
  d.event_id = "malformed:transitions.bot:0:9";
  d.reason = "malformed";
  d.detail = "not JSON";
  d.raw = std::string("\x00\xff{oops", 7);
  d.src.topic = "transitions.bot";
  d.src.offset = 9;
  d.status = "open";
  d.created_at = "2026-11-23T10:00:01.250Z";
  auto r = parse_dead_letter_message(as_consumed(wire::dead_letter_message(d, "transitions.dlq")));
  ASSERT_TRUE(std::holds_alternative<DeadLetterRecord>(r)) << std::get<std::string>(r);
  const auto& got = std::get<DeadLetterRecord>(r);
  EXPECT_EQ(got.raw, d.raw);
  EXPECT_EQ(got.event, std::nullopt);
  EXPECT_EQ(got.aggregate_type, std::nullopt);
  EXPECT_EQ(got.kafka_key, std::nullopt);
}

// A dead letter too large for the broker is published trimmed; `dlq drain` still
// imports it, saying in the detail that the bytes stayed in the worker's row.
TEST(ParseDeadLetterMessage, TrimmedMessageIsImportedWithoutItsBytes) {
  DeadLetterRecord d;
  d.id = 2;
  d.event_id = "malformed:transitions.bot:0:10:0123456789abcdef";
  d.reason = "malformed";
  d.detail = "event larger than limits.max_event_bytes";
  d.raw = std::string(600000, 'x');
  d.kafka_key = "k";
  d.headers = {{"trace-id", std::string("t-1")}};
  d.src.topic = "transitions.bot";
  d.src.offset = 10;
  d.status = "open";
  d.created_at = "2026-11-23T10:00:01.250Z";
  const auto msg = wire::dead_letter_message(d, "transitions.dlq", 500000);
  EXPECT_LT(msg.value.size() + msg.key->size() + 200, 500000u);
  EXPECT_EQ(Json::parse(msg.value)["trimmed"], true);
  EXPECT_EQ(Json::parse(msg.value)["original_bytes"], 600000);
  auto r = parse_dead_letter_message(as_consumed(msg));
  ASSERT_TRUE(std::holds_alternative<DeadLetterRecord>(r)) << std::get<std::string>(r);
  const auto& got = std::get<DeadLetterRecord>(r);
  EXPECT_EQ(got.event_id, d.event_id);
  EXPECT_TRUE(got.raw.empty());
  EXPECT_NE(got.detail.find("trimmed"), std::string::npos) << got.detail;
  EXPECT_NE(got.detail.find("600000 bytes"), std::string::npos) << got.detail;
  EXPECT_EQ(got.kafka_key, "k");
  ASSERT_EQ(got.headers.size(), 1u) << "the event's own headers still travel";

  // Headers that alone exceed the limit are left out too, and counted.
  d.headers = {{"big", std::string(600000, 'h')}};
  const auto no_headers = wire::dead_letter_message(d, "transitions.dlq", 500000);
  EXPECT_EQ(Json::parse(no_headers.value)["headers_trimmed"], 1);
  for (const auto& h : no_headers.headers) EXPECT_EQ(h.name.rfind(wire::header::prefix, 0), 0u) << h.name;
}

TEST(ParseDeadLetterMessage, RefusesWhatIsNotADeadLetter) {
  Message m;
  for (const char* v : {"", "not json", "[]", R"({"reason":"malformed","raw_base64":""})",
                        R"({"event_id":"e","reason":"bogus","raw_base64":""})",
                        R"({"event_id":"e","reason":"malformed"})",
                        R"({"event_id":"e","reason":"malformed","raw_base64":"***"})"}) {
    m.value = v;
    EXPECT_TRUE(std::holds_alternative<std::string>(parse_dead_letter_message(m))) << v;
  }
}

TEST(ParseTime, Rfc3339DatesAndAges) {
  const auto now = system_clock::from_time_t(1763892000);  // 2025-11-23T10:00:00Z
  EXPECT_EQ(parse_time("2026-11-23T10:00:00Z", now), "2026-11-23T10:00:00.000Z");
  EXPECT_EQ(parse_time("2026-11-23t10:00:00.5z", now), "2026-11-23T10:00:00.500Z");
  EXPECT_EQ(parse_time("2026-11-23T10:00:00.123456+01:30", now), "2026-11-23T08:30:00.123Z");
  EXPECT_EQ(parse_time("2026-11-23 01:00:00-02:00", now), "2026-11-23T03:00:00.000Z");
  EXPECT_EQ(parse_time("2024-02-29", now), "2024-02-29T00:00:00.000Z");
  EXPECT_EQ(parse_time("90s", now), "2025-11-23T09:58:30.000Z");
  EXPECT_EQ(parse_time("15m", now), "2025-11-23T09:45:00.000Z");
  EXPECT_EQ(parse_time("2h", now), "2025-11-23T08:00:00.000Z");
  EXPECT_EQ(parse_time("7d", now), "2025-11-16T10:00:00.000Z");
  for (const char* bad : {"", "yesterday", "5x", "h", "-5m", "2026-02-30", "2025-02-29", "2026-13-01",
                          "2026-11-23T10:00:00", "2026-11-23T25:00:00Z", "2026-11-23T10:00Z", "2026-11-23T10:00:00+1",
                          "2026-11-23T10:00:00.Z", "2026-11-23X10:00:00Z"})
    EXPECT_EQ(parse_time(bad, now), std::nullopt) << bad;
}

}  // namespace
}  // namespace lockstep::dlq
