#include "lockstep/test/events.hpp"

namespace lockstep::test {
namespace {

std::string quoted(const std::string& s) { return Json(s).dump(); }

}  // namespace

EventBuilder::EventBuilder(std::string event_id, std::string aggregate_id, std::string transition)
    : event_id_(std::move(event_id)), aggregate_id_(std::move(aggregate_id)), transition_(std::move(transition)) {}

EventBuilder& EventBuilder::type(std::string aggregate_type) {
  type_ = std::move(aggregate_type);
  return *this;
}

EventBuilder& EventBuilder::actor(const std::string& actor) { return member("actor", quoted(actor)); }

EventBuilder& EventBuilder::expected_version(std::int64_t version) {
  return member("expected_version", std::to_string(version));
}

EventBuilder& EventBuilder::expected_state(const std::string& state) {
  return member("expected_state", quoted(state));
}

EventBuilder& EventBuilder::occurred_at(const std::string& rfc3339) { return member("occurred_at", quoted(rfc3339)); }

EventBuilder& EventBuilder::payload(const Json& object) { return member("payload", object.dump()); }

EventBuilder& EventBuilder::member(const std::string& name, const std::string& json_value) {
  members_ += ',';
  members_ += quoted(name);
  members_ += ':';
  members_ += json_value;
  return *this;
}

EventBuilder& EventBuilder::raw(const std::string& members) {
  members_ += members;
  return *this;
}

std::string EventBuilder::json() const {
  std::string out = R"({"event_id":)";
  out += quoted(event_id_);
  out += R"(,"aggregate_type":)";
  out += quoted(type_);
  out += R"(,"aggregate_id":)";
  out += quoted(aggregate_id_);
  out += R"(,"transition":)";
  out += quoted(transition_);
  out += members_;
  out += '}';
  return out;
}

std::string event_json(const std::string& event_id, const std::string& aggregate_id, const std::string& transition,
                       const std::string& extra) {
  return event(event_id, aggregate_id, transition).raw(extra).json();
}

}  // namespace lockstep::test
