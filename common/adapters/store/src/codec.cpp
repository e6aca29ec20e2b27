#include "codec.hpp"

#include <utility>

#include "lockstep/store.hpp"

namespace lockstep {

Json headers_to_json(const std::vector<Header>& hs) {
  Json arr = Json::array();
  for (const auto& h : hs) {
    Json o = {{"name", h.name}};
    o["value_b64"] = h.value ? Json(base64_encode(*h.value)) : Json(nullptr);
    arr.push_back(std::move(o));
  }
  return arr;
}

std::vector<Header> headers_from_json(const std::string& text) {
  std::vector<Header> out;
  auto j = Json::parse(text, nullptr, false);
  if (!j.is_array()) return out;
  for (const auto& o : j) {
    Header h;
    h.name = o.value("name", "");
    if (o.contains("value_b64") && o["value_b64"].is_string())
      h.value = base64_decode(o["value_b64"].get<std::string>()).value_or("");
    out.push_back(std::move(h));
  }
  return out;
}

std::string first_line(const std::string& s) {
  auto p = s.find('\n');
  return p == std::string::npos ? s : s.substr(0, p);
}

}  // namespace lockstep
