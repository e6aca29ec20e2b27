// The outcome message (docs/event.md "Outcomes"): written by the worker for every event, read
// by `lockstep emit --wait` (the asynchronous "409").
#include "lockstep/wire.hpp"

#include <type_traits>

namespace lockstep::wire {

namespace {

Json or_null(const std::optional<std::string>& s) { return s ? Json(*s) : Json(nullptr); }

// A field that is absent or null reads as nullopt; one of another type is an error.
template <class T>
bool read_optional(const Json& o, const char* k, std::optional<T>& out, std::string& error) {
  if (!o.contains(k) || o[k].is_null()) return true;
  bool ok = false;
  if constexpr (std::is_same_v<T, std::string>)
    ok = o[k].is_string();
  else
    ok = o[k].is_number_integer();
  if (!ok) {
    error = std::string(k) + " has the wrong type";
    return false;
  }
  out = o[k].get<T>();
  return true;
}

}  // namespace

Json outcome_json(const OutcomeMessage& o) {
  Json v = {{"event_id", o.event_id}, {"outcome", o.outcome}};
  v["aggregate_type"] = or_null(o.aggregate_type);
  v["aggregate_id"] = or_null(o.aggregate_id);
  if (o.reason) v["reason"] = *o.reason;
  if (o.version) v["version"] = *o.version;
  v["state"] = or_null(o.state);
  if (o.first) {
    Json f = {{"outcome", o.first->outcome}};
    if (o.first->reason) f["reason"] = *o.first->reason;
    if (o.first->version) f["version"] = *o.first->version;
    f["state"] = or_null(o.first->state);
    v["first"] = std::move(f);
  }
  return v;
}

OutMessage outcome_message(const OutcomeMessage& o, const std::optional<std::string>& key,
                           const std::string& topic) {
  OutMessage m;
  m.topic = topic;
  m.key = key;
  m.value = outcome_json(o).dump(-1, ' ', false, Json::error_handler_t::replace);
  return m;
}

std::variant<OutcomeMessage, std::string> parse_outcome(std::string_view value) {
  const Json v = Json::parse(value, nullptr, false);
  if (v.is_discarded() || !v.is_object()) return std::string("value is not a JSON object");
  OutcomeMessage o;
  std::string error;
  std::optional<std::string> event_id, outcome;
  if (!read_optional(v, "event_id", event_id, error) || !event_id) return std::string("no event_id");
  if (!read_optional(v, "outcome", outcome, error) || !outcome) return std::string("no outcome");
  o.event_id = *event_id;
  o.outcome = *outcome;
  if (!read_optional(v, "aggregate_type", o.aggregate_type, error) ||
      !read_optional(v, "aggregate_id", o.aggregate_id, error) || !read_optional(v, "reason", o.reason, error) ||
      !read_optional(v, "version", o.version, error) || !read_optional(v, "state", o.state, error))
    return error;
  if (v.contains("first") && !v["first"].is_null()) {
    const Json& f = v["first"];
    if (!f.is_object()) return std::string("first is not an object");
    PriorOutcome p;
    std::optional<std::string> first_outcome;
    if (!read_optional(f, "outcome", first_outcome, error) || !first_outcome) return std::string("no first.outcome");
    p.outcome = *first_outcome;
    if (!read_optional(f, "reason", p.reason, error) || !read_optional(f, "version", p.version, error) ||
        !read_optional(f, "state", p.state, error))
      return "first." + error;
    o.first = std::move(p);
  }
  return o;
}

}  // namespace lockstep::wire
