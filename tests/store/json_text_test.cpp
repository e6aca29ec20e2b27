// JsonText: the batch documents' writer gives the JSON nlohmann would read back
// to the same values, escapes what JSON requires, and never emits invalid UTF-8.
#include "json_text.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace lockstep {
namespace {

using nlohmann::json;

TEST(JsonText, ObjectsAndArraysGetTheirSeparators) {
  JsonText d;
  d.begin_array();
  for (int i = 0; i < 2; ++i)
    d.begin_object().key("ord").value(i).key("s").value("x").key("n").null().key("b").value(true).end_object();
  d.begin_array().end_array().begin_object().end_object();
  d.end_array();
  EXPECT_EQ(d.str(), R"([{"ord":0,"s":"x","n":null,"b":true},{"ord":1,"s":"x","n":null,"b":true},[],{}])");
}

TEST(JsonText, IntegersOfEveryWidthAndOptionals) {
  JsonText d;
  d.begin_array()
      .value(INT64_MIN)
      .value(INT64_MAX)
      .value(static_cast<int32_t>(-7))
      .value(std::size_t{42})
      .value(std::optional<std::string>{})
      .value(std::optional<std::string>{"y"})
      .raw(R"({"a":[1]})")
      .end_array();
  EXPECT_EQ(json::parse(d.str()), json::parse(R"([-9223372036854775808,9223372036854775807,-7,42,null,"y",{"a":[1]}])"));
}

TEST(JsonText, StringsReadBackAsWritten) {
  const std::vector<std::string> samples = {
      "", "plain", "quote \" and backslash \\", "\n\r\t\b\f", std::string("\x01\x1f\x7f", 3),
      "caf\xc3\xa9", "\xe2\x82\xac euro", "\xf0\x9f\x98\x80 emoji", "</script><img onerror=x>", "\xef\xbf\xbf",
      "\xf4\x8f\xbf\xbf"};
  for (const auto& s : samples) {
    JsonText d;
    d.value(s);
    EXPECT_EQ(json::parse(d.str()).get<std::string>(), s) << d.str();
    // What nlohmann itself writes reads back the same.
    EXPECT_EQ(json::parse(d.str()), json::parse(json(s).dump()));
  }
}

TEST(JsonText, InvalidUtf8BecomesTheReplacementCharacter) {
  const std::vector<std::string> bad = {
      "\xff", "a\x80z", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xf0\x9f\x98", "\xc3"};
  for (const auto& s : bad) {
    JsonText d;
    d.value(s);
    const auto back = json::parse(d.str());  // throws on invalid UTF-8 or bad escapes
    EXPECT_NE(back.get<std::string>().find("\xef\xbf\xbd"), std::string::npos) << d.str();
  }
}

}  // namespace
}  // namespace lockstep
