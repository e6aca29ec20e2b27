// docs/event.schema.json against parse_event: the real parser judges every seed of the
// fuzz corpus (fuzz/corpus/event) and a list of edge cases, and event_schema_check.py
// judges the same inputs with the schema (Python's jsonschema); they must agree.
// Each message's key is derived from its own document and every input is small, so no
// input is refused for what the schema cannot state (the key, limits.max_event_bytes).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "lockstep/event.hpp"
#include "lockstep/test/support.hpp"

namespace lockstep {
namespace {

namespace fs = std::filesystem;

struct Case {
  std::string name;
  std::string value;
};

Json base() {
  return Json{{"event_id", "e-1"},
              {"aggregate_type", "membership"},
              {"aggregate_id", "guild-1/user-9"},
              {"transition", "join"}};
}

std::string with(const std::string& field, const Json& value) {
  Json j = base();
  j[field] = value;
  return j.dump();
}

std::string without(const std::string& field) {
  Json j = base();
  j.erase(field);
  return j.dump();
}

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

// The base event with `field` set to the raw JSON text `raw`.
std::string with_raw(const std::string& field, const std::string& raw) {
  std::string doc = base().dump();
  doc.pop_back();
  doc += ",\"" + field + "\":" + raw + "}";
  return doc;
}

void add_field_cases(std::vector<Case>& out) {
  const char* kFields[] = {"event_id",       "aggregate_type", "aggregate_id", "transition", "expected_version",
                           "expected_state", "payload",        "actor",        "occurred_at"};
  const std::pair<const char*, Json> kWrong[] = {
      {"null", nullptr},          {"int", 7},       {"float", 1.5},   {"bool", true},
      {"array", Json::array()},   {"object", Json::object()}, {"string", "x"}};
  for (const char* f : kFields) {
    out.push_back({std::string("missing_") + f, without(f)});
    for (const auto& [kind, value] : kWrong) out.push_back({std::string(f) + "_" + kind, with(f, value)});
  }
}

void add_length_cases(std::vector<Case>& out) {
  for (const int n : {0, 1, 128, 129}) {
    out.push_back({"event_id_len" + std::to_string(n), with("event_id", repeat("x", n))});
    out.push_back({"event_id_len" + std::to_string(n) + "_2byte", with("event_id", repeat("\xC3\xA9", n))});
    out.push_back({"event_id_len" + std::to_string(n) + "_4byte", with("event_id", repeat("\xF0\x9F\x98\x80", n))});
  }
  for (const int n : {0, 1, 256, 257}) {
    out.push_back({"aggregate_id_len" + std::to_string(n), with("aggregate_id", repeat("y", n))});
    out.push_back({"aggregate_id_len" + std::to_string(n) + "_2byte", with("aggregate_id", repeat("\xC3\xBC", n))});
    out.push_back({"actor_len" + std::to_string(n), with("actor", repeat("a", n))});
    out.push_back({"actor_len" + std::to_string(n) + "_3byte", with("actor", repeat("\xE2\x82\xAC", n))});
  }
  for (const int n : {0, 1, 1000}) {
    out.push_back({"transition_len" + std::to_string(n), with("transition", repeat("t", n))});
    out.push_back({"expected_state_len" + std::to_string(n), with("expected_state", repeat("s", n))});
  }
}

void add_aggregate_type_cases(std::vector<Case>& out) {
  const std::pair<const char*, std::string> kTypes[] = {
      {"a", "a"},           {"64", "m" + repeat("x", 63)}, {"65", "m" + repeat("x", 64)},
      {"upper", "Member"},  {"digit_first", "1abc"},       {"underscore_first", "_a"},
      {"dash", "a-b"},      {"space", "a b"},              {"trailing_newline", "membership\n"},
      {"non_ascii", "m\xC3\xA9me"}, {"digits", "a1_2"},    {"empty", ""}};
  for (const auto& [name, type] : kTypes) out.push_back({std::string("aggregate_type_") + name, with("aggregate_type", type)});
}

void add_number_cases(std::vector<Case>& out) {
  const std::pair<const char*, const char*> kVersions[] = {
      {"0", "0"},           {"1", "1"},     {"max", "9223372036854775807"}, {"max_plus_1", "9223372036854775808"},
      {"2e64", "18446744073709551616"},     {"minus_1", "-1"},           {"minus_0", "-0"},
      {"one_point_zero", "1.0"}, {"exponent", "1e2"}, {"fraction", "1.5"}, {"string", "\"1\""},
      {"huge", "1e400"}};
  for (const auto& [name, raw] : kVersions) out.push_back({std::string("expected_version_") + name, with_raw("expected_version", raw)});
  out.push_back({"payload_huge_integer", with_raw("payload", "{\"n\":1" + repeat("0", 400) + "}")});
  out.push_back({"payload_big_integer", with_raw("payload", "{\"n\":100000000000000000000000}")});
  out.push_back({"payload_nested", with_raw("payload", "{\"a\":{\"b\":[1,2,{\"c\":null}]},\"d\":1.5}")});
  out.push_back({"payload_empty", with_raw("payload", "{}")});
}

void add_occurred_at_cases(std::vector<Case>& out) {
  const std::pair<const char*, const char*> kTimes[] = {
      {"utc", "2024-05-01T12:00:00Z"},           {"fraction", "2024-05-01T12:00:00.123456Z"},
      {"offset", "2024-05-01T12:00:00+02:00"},   {"negative_offset", "2024-05-01T12:00:00-05:30"},
      {"lower", "2024-05-01t12:00:00z"},         {"date_only", "2024-05-01"},
      {"no_zone", "2024-05-01T12:00:00"},        {"space", "2024-05-01 12:00:00Z"},
      {"month_13", "2024-13-01T00:00:00Z"},      {"feb_29_leap", "2024-02-29T00:00:00Z"},
      {"feb_29_common", "2023-02-29T00:00:00Z"}, {"feb_29_1900", "1900-02-29T00:00:00Z"},
      {"feb_29_2000", "2000-02-29T00:00:00Z"},   {"apr_31", "2024-04-31T00:00:00Z"},
      {"hour_24", "2024-05-01T24:00:00Z"},       {"minute_60", "2024-05-01T12:60:00Z"},
      {"second_60_utc", "2016-12-31T23:59:60Z"}, {"second_60_offset", "2017-01-01T00:59:60+01:00"},
      {"second_60_noon", "2024-05-01T12:00:60Z"}, {"second_61", "2024-05-01T23:59:61Z"},
      {"empty_fraction", "2024-05-01T12:00:00.Z"}, {"offset_24", "2024-05-01T12:00:00+24:00"},
      {"offset_no_colon", "2024-05-01T12:00:00+0200"}, {"offset_minute_60", "2024-05-01T12:00:00+01:60"},
      {"year_0", "0000-01-01T00:00:00Z"},        {"year_1", "0001-01-01T00:00:00Z"},
      {"trailing_newline", "2024-05-01T12:00:00Z\n"}, {"arabic_digits", "\xD9\xA2\xD9\xA0\xD9\xA2\xD9\xA4-05-01T12:00:00Z"},
      {"empty", ""}};
  for (const auto& [name, at] : kTimes) out.push_back({std::string("occurred_at_") + name, with("occurred_at", at)});
}

void add_document_cases(std::vector<Case>& out) {
  const std::pair<const char*, std::string> kDocs[] = {
      {"full", R"({"event_id":"e-1","aggregate_type":"membership","aggregate_id":"guild-1/user-9","transition":"join","expected_version":3,"expected_state":"pending","payload":{"role":"member"},"actor":"bot","occurred_at":"2024-05-01T12:00:00Z"})"},
      {"unknown_field", with("extra", Json{{"a", Json::array({1, 2})}})},
      {"unknown_field_null", with("extra", nullptr)},
      {"unknown_field_nul", with("extra", std::string("a\0b", 3))},
      {"nul_in_payload", with("payload", Json{{"k", std::string("a\0b", 3)}})},
      {"duplicate_unknown", with_raw("x", "1,\"x\":2")},
      {"top_array", "[]"}, {"top_string", "\"s\""}, {"top_number", "1"}, {"top_null", "null"},
      {"empty", ""}, {"whitespace", " \n"}, {"nan", with_raw("extra", "NaN")},
      {"depth_64", with_raw("extra", repeat("[", 63) + repeat("]", 63))},
      {"depth_65", with_raw("extra", repeat("[", 64) + repeat("]", 64))},
      {"lone_surrogate_in_payload", with_raw("payload", "{\"k\":\"\\udc00\"}")},
      {"escaped_pair", with_raw("actor", "\"\\ud83d\\ude00\"")},
      {"trailing_garbage", base().dump() + "x"}};
  for (const auto& [name, doc] : kDocs) out.push_back({std::string("doc_") + name, doc});
}

// The fuzz seeds without their first byte (key mode and limits; see fuzz/event_fuzz.cpp).
void add_corpus(std::vector<Case>& out) {
  for (const auto& entry : fs::directory_iterator(test::source_dir() + "/fuzz/corpus/event")) {
    std::string bytes = test::read_file(entry.path().string());
    if (bytes.empty()) continue;
    const int key_mode = bytes[0] & 3;
    std::size_t skip = 1;
    if (key_mode == 2 && bytes.size() > 1) skip = 2 + static_cast<unsigned char>(bytes[1]);
    out.push_back({"corpus_" + entry.path().filename().string(), bytes.size() > skip ? bytes.substr(skip) : ""});
  }
}

std::vector<Case> all_cases() {
  std::vector<Case> out;
  add_field_cases(out);
  add_length_cases(out);
  add_aggregate_type_cases(out);
  add_number_cases(out);
  add_occurred_at_cases(out);
  add_document_cases(out);
  add_corpus(out);
  return out;
}

// aggregate_type:aggregate_id when the document has both as strings.
std::optional<std::string> derived_key(const std::string& value) {
  const Json doc = Json::parse(value, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return std::nullopt;
  const auto t = doc.find("aggregate_type");
  const auto id = doc.find("aggregate_id");
  if (t == doc.end() || id == doc.end() || !t->is_string() || !id->is_string()) return std::nullopt;
  return t->get<std::string>() + ":" + id->get<std::string>();
}

// Writes each case and the parser's verdicts.tsv into `dir`; the number of accepted inputs.
int write_cases(const std::string& dir) {
  std::ofstream verdicts(dir + "/verdicts.tsv");
  int accepted = 0;
  for (const Case& c : all_cases()) {
    std::ofstream(dir + "/" + c.name, std::ios::binary) << c.value;
    const ParseResult r = parse_event(c.value, derived_key(c.value));
    if (std::holds_alternative<Event>(r)) {
      verdicts << c.name << "\taccept\n";
      ++accepted;
    } else {
      std::string detail = std::get<Malformed>(r).detail;
      for (char& ch : detail) {
        if (ch == '\t' || ch == '\n') ch = ' ';
      }
      verdicts << c.name << "\treject\t" << detail << "\n";
    }
  }
  return accepted;
}

// Runs the checker on `schema`; its exit status, and its output in `output`.
int run_check(const std::string& schema, const std::string& cases, const std::string& log, std::string& output) {
  const int status = kit::run_cmd(
      {LOCKSTEP_PYTHON3, test::source_dir() + "/tests/event/event_schema_check.py", "--schema", schema, "--cases", cases},
      {}, log);
  output = test::read_file(log);
  return status;
}

TEST(EventSchema, AgreesWithParser) {
  test::TempDir dir;
  const int accepted = write_cases(dir.path);
  ASSERT_GT(accepted, 20) << "too few accepted inputs to say anything";
  std::string output;
  const int status = run_check(test::source_dir() + "/docs/event.schema.json", dir.path, dir.path + "/check.log", output);
  EXPECT_EQ(status, 0) << output;
}

// The check can fail: a schema one character too strict on event_id disagrees on the
// 128-character inputs, and the checker names them.
TEST(EventSchema, CheckFindsADisagreement) {
  test::TempDir dir;
  write_cases(dir.path);
  Json schema = Json::parse(test::read_file(test::source_dir() + "/docs/event.schema.json"));
  schema["properties"]["event_id"]["maxLength"] = 127;
  std::ofstream(dir.path + "/wrong.schema.json") << schema.dump(2);
  std::string output;
  const int status = run_check(dir.path + "/wrong.schema.json", dir.path, dir.path + "/check.log", output);
  EXPECT_EQ(status, 1) << output;
  EXPECT_NE(output.find("event_id_len128:"), std::string::npos) << output;
  EXPECT_NE(output.find("event_id_len128_4byte:"), std::string::npos) << output;
}

}  // namespace
}  // namespace lockstep
