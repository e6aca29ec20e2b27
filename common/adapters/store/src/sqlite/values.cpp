// Embedded store: values as stored. Text and JSON are kept as PostgreSQL keeps
// them (invalid UTF-8 replaced), and a NUL character PostgreSQL could not store
// is found before anything is written.
#include <algorithm>

#include "sqlite_store.hpp"

namespace lockstep::sqlite {

std::string json_text(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }
std::optional<std::string> opt_json_text(const std::optional<Json>& j) {
  if (!j) return std::nullopt;
  return json_text(*j);
}

std::string clean(const std::string& s) {
  try {
    (void)Json(s).dump();
    return s;
  } catch (const Json::type_error&) {
    return Json::parse(Json(s).dump(-1, ' ', false, Json::error_handler_t::replace)).get<std::string>();
  }
}
std::optional<std::string> clean(const std::optional<std::string>& s) {
  if (!s) return s;
  return clean(*s);
}

bool has_nul(const std::string& s) { return s.find('\0') != std::string::npos; }
bool has_nul(const std::optional<std::string>& s) { return s && has_nul(*s); }
bool has_nul(const Json& j) {
  if (j.is_string()) return has_nul(j.get_ref<const std::string&>());
  if (j.is_array()) return std::any_of(j.begin(), j.end(), [](const Json& e) { return has_nul(e); });
  if (j.is_object())
    for (auto it = j.begin(); it != j.end(); ++it)
      if (has_nul(it.key()) || has_nul(it.value())) return true;
  return false;
}

}  // namespace lockstep::sqlite
