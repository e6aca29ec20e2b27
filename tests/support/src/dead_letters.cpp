#include "lockstep/test/dead_letters.hpp"

namespace lockstep::test {

DeadLetterRecord conflict_dead_letter(const EventBuilder& e) {
  DeadLetterRecord d;
  d.id = 42;
  d.raw = e.json();
  d.event = Json::parse(d.raw);
  d.event_id = d.event->at("event_id").get<std::string>();
  d.reason = "version_conflict";
  d.detail = "expected version 1, stored version 3";
  d.aggregate_type = d.event->at("aggregate_type").get<std::string>();
  d.aggregate_id = d.event->at("aggregate_id").get<std::string>();
  d.kafka_key = e.key();
  d.headers = {Header{"traceparent", std::string("00-abc")}, Header{"empty", std::nullopt}};
  d.conflict = Json{{"expected_version", 1}, {"actual_version", 3}};
  d.src.topic = "transitions.api";
  d.src.partition = 3;
  d.src.offset = 1234;
  d.src.timestamp_ms = 1763892000123;
  d.consumer_group = "lockstep";
  d.attempts = 1;
  d.status = "open";
  d.created_at = "2026-11-23T10:00:01.250Z";
  return d;
}

}  // namespace lockstep::test
