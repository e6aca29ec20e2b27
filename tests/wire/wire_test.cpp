// The dead-letter and outcome messages: the exact bytes the worker publishes,
// read back into the same fields, and what a reader refuses.
#include "lockstep/wire.hpp"

#include <gtest/gtest.h>

#include <set>

#include "lockstep/test/dead_letters.hpp"

namespace lockstep::wire {
namespace {

DeadLetterRecord conflict_letter() {
  return test::conflict_dead_letter(test::event("evt-7", "m-1", "suspend").expected_version(1));
}

DeadLetterRecord malformed_letter() {
  DeadLetterRecord d;
  d.id = 1;
  d.event_id = "malformed:t:0:9";
  d.reason = "malformed";
  d.detail = "not JSON";
  d.raw = std::string("\x00\xffx", 3);
  d.src.topic = std::string("t");  // not `= "t"`: GCC 12's false -Wrestrict at -O3 (bug 105329)
  d.src.offset = 9;
  return d;
}

Message as_consumed(const OutMessage& o) {
  Message m;
  m.topic = o.topic;
  m.offset = 17;
  m.key = o.key;
  m.value = o.value;
  m.headers = o.headers;
  return m;
}

DeadLetterMessage parsed(const Message& m) {
  auto r = parse_dead_letter(m);
  if (const auto* error = std::get_if<std::string>(&r)) ADD_FAILURE() << *error;
  return std::get<DeadLetterMessage>(r);
}

std::string parse_error(const Message& m) {
  auto r = parse_dead_letter(m);
  if (std::holds_alternative<DeadLetterMessage>(r)) return "(parsed)";
  return std::get<std::string>(r);
}

// The format is the documented format (docs/operations.md "The dead-letter record"): these bytes are what the worker has always published.
TEST(DeadLetterMessage, ExactBytesOfAConflict) {
  const auto m = dead_letter_message(conflict_letter(), "transitions.dlq");
  EXPECT_EQ(m.topic, "transitions.dlq");
  EXPECT_EQ(m.key, "membership:m-1");
  EXPECT_EQ(m.partition, -1);
  EXPECT_EQ(m.value,
            R"({"attempts":1,"conflict":{"actual_version":3,"expected_version":1},)"
            R"("dead_lettered_at":"2026-11-23T10:00:01.250Z","detail":"expected version 1, stored version 3",)"
            R"("event":{"aggregate_id":"m-1","aggregate_type":"membership","event_id":"evt-7","expected_version":1,)"
            R"("transition":"suspend"},"event_id":"evt-7","reason":"version_conflict",)"
            R"("source":{"offset":1234,"partition":3,"topic":"transitions.api"}})");
  const std::vector<Header> want = {
      {"traceparent", std::string("00-abc")},
      {"empty", std::nullopt},
      {"lockstep.reason", std::string("version_conflict")},
      {"lockstep.event_id", std::string("evt-7")},
      {"lockstep.source.topic", std::string("transitions.api")},
      {"lockstep.source.partition", std::string("3")},
      {"lockstep.source.offset", std::string("1234")},
      {"lockstep.source.timestamp", std::string("1763892000123")},
      {"lockstep.consumer.group", std::string("lockstep")},
      {"lockstep.attempts", std::string("1")},
  };
  EXPECT_EQ(m.headers, want);
}

TEST(DeadLetterMessage, ExactBytesOfMalformedInput) {
  const auto m = dead_letter_message(malformed_letter(), "transitions.dlq");
  EXPECT_EQ(m.key, std::nullopt);
  EXPECT_EQ(m.value,
            R"({"attempts":0,"dead_lettered_at":"","detail":"not JSON","event_id":"malformed:t:0:9",)"
            R"("raw_base64":"AP94","reason":"malformed","source":{"offset":9,"partition":0,"topic":"t"}})");
  ASSERT_EQ(m.headers.size(), header::dead_letter.size());
  EXPECT_EQ(m.headers[5], (Header{"lockstep.source.timestamp", std::string("-1")}));
  EXPECT_EQ(m.headers[6], (Header{"lockstep.consumer.group", std::string("")}));
}

TEST(DeadLetterMessage, CarriesEveryHeaderConstantInOrder) {
  const auto d = conflict_letter();
  const auto m = dead_letter_message(d, "transitions.dlq");
  ASSERT_EQ(m.headers.size(), d.headers.size() + header::dead_letter.size());
  std::set<std::string> names;
  for (std::size_t i = 0; i < header::dead_letter.size(); ++i) {
    const std::string name = header::dead_letter[i];
    EXPECT_TRUE(name.starts_with(header::prefix)) << name;
    EXPECT_FALSE(is_replay_header(name)) << name;
    EXPECT_EQ(m.headers[d.headers.size() + i].name, name);
    EXPECT_TRUE(header_value(m.headers, name)) << name;
    names.insert(name);
  }
  EXPECT_EQ(names.size(), header::dead_letter.size()) << "distinct names";
  EXPECT_EQ(header_value(m.headers, header::reason), "version_conflict");
  EXPECT_EQ(header_value(m.headers, header::event_id), "evt-7");
  EXPECT_EQ(header_value(m.headers, header::attempts), "1");
  for (const char* name : {header::replay_of, header::replay_dead_letter_id, header::replay_by}) {
    EXPECT_TRUE(is_replay_header(name)) << name;
    EXPECT_TRUE(std::string(name).starts_with(header::prefix)) << name;
  }
  EXPECT_EQ(header_value(m.headers, "empty"), std::nullopt) << "a null value reads as none";
  EXPECT_EQ(header_value(m.headers, "absent"), std::nullopt);
}

TEST(DeadLetterMessage, RoundTripsAConflict) {
  const auto d = conflict_letter();
  const auto got = parsed(as_consumed(dead_letter_message(d, "transitions.dlq")));
  const auto& r = got.record;
  EXPECT_FALSE(got.trimmed);
  EXPECT_EQ(r.event_id, d.event_id);
  EXPECT_EQ(r.reason, d.reason);
  EXPECT_EQ(r.detail, d.detail);
  EXPECT_EQ(r.aggregate_type, d.aggregate_type);
  EXPECT_EQ(r.aggregate_id, d.aggregate_id);
  EXPECT_EQ(r.event, d.event);
  EXPECT_EQ(Json::parse(r.raw), *d.event);
  EXPECT_EQ(r.kafka_key, d.kafka_key);
  EXPECT_EQ(r.headers, d.headers) << "the event's own headers, not Lockstep's";
  EXPECT_EQ(r.conflict, d.conflict);
  EXPECT_EQ(r.src.topic, d.src.topic);
  EXPECT_EQ(r.src.partition, d.src.partition);
  EXPECT_EQ(r.src.offset, d.src.offset);
  EXPECT_EQ(r.src.timestamp_ms, d.src.timestamp_ms);
  EXPECT_EQ(r.consumer_group, d.consumer_group);
  EXPECT_EQ(r.attempts, d.attempts);
  EXPECT_EQ(r.created_at, d.created_at);
  EXPECT_EQ(r.id, 0) << "table fields are not part of the message";
  EXPECT_EQ(r.status, "");
}

TEST(DeadLetterMessage, RoundTripsMalformedBytesAndReplayHeaders) {
  auto d = malformed_letter();
  d.headers = {Header{header::replay_of, std::string("evt-1")}, Header{"x", std::string("\x01\x00", 2)}};
  const auto got = parsed(as_consumed(dead_letter_message(d, "transitions.dlq")));
  EXPECT_EQ(got.record.raw, d.raw);
  EXPECT_EQ(got.record.event, std::nullopt);
  EXPECT_EQ(got.record.aggregate_type, std::nullopt);
  EXPECT_EQ(got.record.kafka_key, std::nullopt);
  EXPECT_EQ(got.record.headers, d.headers) << "a replay's headers travel with the event";
  EXPECT_EQ(got.record.src.timestamp_ms, -1);
}

TEST(DeadLetterMessage, TrimsWhatTheBrokerWouldRefuse) {
  auto d = malformed_letter();
  d.raw = std::string(600000, 'x');
  d.kafka_key = "k";
  d.headers = {{"trace-id", std::string("t-1")}};
  const auto m = dead_letter_message(d, "transitions.dlq", 500000);
  EXPECT_LT(m.value.size() + 512, 500000u);
  const auto v = Json::parse(m.value);
  EXPECT_EQ(v["trimmed"], true);
  EXPECT_EQ(v["original_bytes"], 600000);
  EXPECT_FALSE(v.contains("raw_base64"));
  auto got = parsed(as_consumed(m));
  EXPECT_TRUE(got.trimmed);
  EXPECT_EQ(got.original_bytes, 600000);
  EXPECT_EQ(got.headers_trimmed, 0);
  EXPECT_TRUE(got.record.raw.empty());
  EXPECT_EQ(got.record.headers, d.headers) << "the event's own headers still travel";

  // Headers that alone exceed the limit are left out too, and counted.
  d.headers = {{"big", std::string(600000, 'h')}};
  const auto small = dead_letter_message(d, "transitions.dlq", 500000);
  EXPECT_EQ(Json::parse(small.value)["headers_trimmed"], 1);
  ASSERT_EQ(small.headers.size(), header::dead_letter.size());
  got = parsed(as_consumed(small));
  EXPECT_EQ(got.headers_trimmed, 1);
  EXPECT_TRUE(got.record.headers.empty());
}

TEST(DeadLetterMessage, CutsALongDetailOnACharacterBoundary) {
  auto d = conflict_letter();
  d.detail = "a";
  for (int i = 0; i < 3000; ++i) d.detail += "\xC3\xA9";  // é, two bytes
  const auto detail = Json::parse(dead_letter_message(d, "t").value)["detail"].get<std::string>();
  EXPECT_EQ(detail.size(), 4095u + 3) << "not inside the last character";
  EXPECT_EQ(detail.substr(detail.size() - 3), "...");
  EXPECT_EQ(detail.substr(0, 3), "a\xC3\xA9");
}

TEST(DeadLetterMessage, RefusesAMessageWithoutARequiredHeader) {
  for (const char* name : {header::event_id, header::reason}) {
    auto m = as_consumed(dead_letter_message(conflict_letter(), "transitions.dlq"));
    std::erase_if(m.headers, [&](const Header& h) { return h.name == name; });
    EXPECT_EQ(parse_error(m), std::string("no ") + name + " header");
  }
}

TEST(DeadLetterMessage, RefusesAMalformedBody) {
  auto m = as_consumed(dead_letter_message(conflict_letter(), "transitions.dlq"));
  for (const char* v : {"", "not json", "[]", R"({"reason":"malformed","raw_base64":""})",
                        R"({"event_id":"","reason":"malformed","raw_base64":""})",
                        R"({"event_id":"e","reason":"bogus","raw_base64":""})",
                        R"({"event_id":"e","reason":"malformed"})",
                        R"({"event_id":"e","reason":"malformed","event":"not an object"})",
                        R"({"event_id":"e","reason":"malformed","raw_base64":"***"})"}) {
    m.value = v;
    EXPECT_NE(parse_error(m), "(parsed)") << v;
  }
}

OutcomeMessage applied() {
  OutcomeMessage o;
  o.event_id = "e1";
  o.aggregate_type = "membership";
  o.aggregate_id = "m-1";
  o.outcome = "applied";
  o.version = 1;
  o.state = "pending";
  return o;
}

OutcomeMessage duplicate_of_dead_letter() {
  OutcomeMessage o = applied();
  o.outcome = "duplicate";
  o.version = 3;
  o.state = "active";
  o.first = PriorOutcome{"dead_lettered", "version_conflict", 3, "active"};
  return o;
}

OutcomeMessage malformed_outcome() {
  OutcomeMessage o;
  o.event_id = "malformed:t:0:9:0123456789abcdef";
  o.outcome = "dead_lettered";
  o.reason = "malformed";
  return o;
}

OutcomeMessage parsed_outcome(const std::string& value) {
  auto r = parse_outcome(value);
  if (const auto* error = std::get_if<std::string>(&r)) ADD_FAILURE() << *error << ": " << value;
  return std::get<OutcomeMessage>(r);
}

void expect_same(const OutcomeMessage& got, const OutcomeMessage& want) {
  EXPECT_EQ(got.event_id, want.event_id);
  EXPECT_EQ(got.aggregate_type, want.aggregate_type);
  EXPECT_EQ(got.aggregate_id, want.aggregate_id);
  EXPECT_EQ(got.outcome, want.outcome);
  EXPECT_EQ(got.reason, want.reason);
  EXPECT_EQ(got.version, want.version);
  EXPECT_EQ(got.state, want.state);
  ASSERT_EQ(got.first.has_value(), want.first.has_value());
  if (!want.first) return;
  EXPECT_EQ(got.first->outcome, want.first->outcome);
  EXPECT_EQ(got.first->reason, want.first->reason);
  EXPECT_EQ(got.first->version, want.first->version);
  EXPECT_EQ(got.first->state, want.first->state);
}

// The format is the documented format (docs/event.md "Outcomes"): these bytes are what the worker has always published.
TEST(OutcomeMessage, ExactBytes) {
  const auto m = outcome_message(applied(), std::string("membership:m-1"), "transitions.outcomes");
  EXPECT_EQ(m.topic, "transitions.outcomes");
  EXPECT_EQ(m.key, "membership:m-1");
  EXPECT_TRUE(m.headers.empty());
  EXPECT_EQ(m.value,
            R"({"aggregate_id":"m-1","aggregate_type":"membership","event_id":"e1","outcome":"applied",)"
            R"("state":"pending","version":1})");
  EXPECT_EQ(outcome_message(duplicate_of_dead_letter(), std::nullopt, "o").value,
            R"({"aggregate_id":"m-1","aggregate_type":"membership","event_id":"e1","first":{"outcome":)"
            R"("dead_lettered","reason":"version_conflict","state":"active","version":3},"outcome":"duplicate",)"
            R"("state":"active","version":3})");
  EXPECT_EQ(outcome_message(malformed_outcome(), std::nullopt, "o").value,
            R"({"aggregate_id":null,"aggregate_type":null,"event_id":"malformed:t:0:9:0123456789abcdef",)"
            R"("outcome":"dead_lettered","reason":"malformed","state":null})");
}

TEST(OutcomeMessage, RoundTrips) {
  for (const auto& o : {applied(), duplicate_of_dead_letter(), malformed_outcome()})
    expect_same(parsed_outcome(outcome_message(o, std::nullopt, "o").value), o);
  auto first_without_state = duplicate_of_dead_letter();
  first_without_state.first = PriorOutcome{"applied", std::nullopt, std::nullopt, std::nullopt};
  expect_same(parsed_outcome(outcome_message(first_without_state, std::nullopt, "o").value), first_without_state);
}

TEST(OutcomeMessage, RefusesAMalformedValue) {
  for (const char* v : {"", "not json", "[]", R"({"outcome":"applied"})", R"({"event_id":7,"outcome":"applied"})",
                        R"({"event_id":"e"})", R"({"event_id":"e","outcome":"applied","version":"1"})",
                        R"({"event_id":"e","outcome":"applied","state":5})",
                        R"({"event_id":"e","outcome":"duplicate","first":"applied"})",
                        R"({"event_id":"e","outcome":"duplicate","first":{"version":1}})",
                        R"({"event_id":"e","outcome":"duplicate","first":{"outcome":"applied","version":1.5}})"})
    EXPECT_TRUE(std::holds_alternative<std::string>(parse_outcome(v))) << v;
}

TEST(MaxMessageBytes, LibrdkafkaDefaultUnlessSet) {
  EXPECT_EQ(max_message_bytes({}), kDefaultMaxMessageBytes);
  EXPECT_EQ(max_message_bytes({{"message.max.bytes", "2000000"}}), 2000000u);
}

}  // namespace
}  // namespace lockstep::wire
