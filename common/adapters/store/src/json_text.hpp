// Writes a JSON document straight into one string: the batch documents the
// PostgreSQL statements take (jsonb_to_recordset) are built per event on the
// hot path, where building nlohmann::json objects first cost a map node, a key
// string and a value per field, then a walk to print them.
//
// Separators are implied: every value (and key) after the first in its
// container gets its comma. Strings are escaped as JSON requires; bytes that
// are not valid UTF-8 become U+FFFD, so the document is always valid JSON.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

namespace lockstep {

class JsonText {
 public:
  // A member name spelled out in the code, checked when it is compiled: plain
  // printable ASCII without a quote or a backslash, so it is written as it is
  // (escaping the names cost a tenth of the worker's instructions per event).
  class Name {
   public:
    template <std::size_t N>
    consteval Name(const char (&literal)[N]) : text_(literal, N - 1) {  // NOLINT: implicit on purpose
      for (const char c : text_)
        if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') throw "a JSON member name that needs escaping";
    }
    std::string_view text() const { return text_; }

   private:
    std::string_view text_;
  };

  JsonText& begin_object() { return open('{'); }
  JsonText& end_object() { return close('}'); }
  JsonText& begin_array() { return open('['); }
  JsonText& end_array() { return close(']'); }
  // `"name":` inside an object; the next call writes its value.
  JsonText& key(Name name);
  JsonText& value(std::string_view s);
  JsonText& value(const char* s) { return value(std::string_view(s)); }
  JsonText& value(const std::string& s) { return value(std::string_view(s)); }
  template <class T>
    requires(std::is_integral_v<T> && !std::is_same_v<T, bool>)
  JsonText& value(T n) {
    return integer(static_cast<int64_t>(n));
  }
  JsonText& value(bool b);
  JsonText& value(const std::optional<std::string>& s) { return s ? value(*s) : null(); }
  JsonText& null();
  // A value that is already JSON text (e.g. a dumped nlohmann::json).
  JsonText& raw(std::string_view json);

  const std::string& str() const { return out_; }
  std::string take() { return std::move(out_); }
  void reserve(std::size_t n) { out_.reserve(n); }

 private:
  JsonText& integer(int64_t n);
  JsonText& open(char c);
  JsonText& close(char c);
  void separate();
  std::string out_;
};

// Appends `s` as a JSON string literal (quotes included) to `out`.
void append_json_string(std::string& out, std::string_view s);

}  // namespace lockstep
